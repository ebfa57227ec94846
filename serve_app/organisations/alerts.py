"""The budget watcher: every ingress replica looks, every interval, at each organisation's spend this UTC month
against its monthly budget, and fires an alert for each threshold reached. The alert store's insert decides, so
an alert fires once per organisation, month and threshold however many replicas watch; the replica that fired it
POSTs it to the organisation's webhook, if it set one.

The webhook's body holds the alert's figures only (never a prompt, an answer or a key), signed with
``LLMAAS_WEBHOOK_SECRET`` if set: ``x-llmaas-signature: sha256=<hex HMAC-SHA256 of the body>``.

The webhook URL is set by the organisation's administrators, not the operator, so it is a way to make the
platform send requests into its own network (SSRF): only http(s) URLs are used, every address the host resolves
to must be public (no loopback, private or link-local address unless ``LLMAAS_WEBHOOK_ALLOW_PRIVATE``), the request
goes to the address checked, and no redirect is followed. The body is the platform's, the answer is not read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from serve_app import tasks
from serve_app.chat.remote_images import Resolve, is_public, resolve
from serve_app.errors import DATABASE_UNREACHABLE
from serve_app.governance.ledger import Ledger
from serve_app.governance.quotas import Window
from serve_app.governance.windows import window_bounds
from serve_app.organisations.alert_store import AlertStore, FiredAlert
from serve_app.organisations.model import Organisation
from serve_app.organisations.store import OrganisationStore

LOGGER = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3
SIGNATURE_HEADER = "x-llmaas-signature"

Deliver = Callable[[str, str, bytes], Awaitable[bool]]  # (organisation id, URL, body): one try, True if taken


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(alert: FiredAlert) -> bytes:
    return json.dumps({"type": "budget.threshold_crossed", "organisation_id": alert.organisation_id,
                       "month": alert.month, "threshold_percent": alert.threshold_percent,
                       "budget_usd": alert.budget_usd, "spent_usd": round(alert.spent_usd, 8),
                       "fired_at": alert.fired_at}, separators=(",", ":")).encode()


class Webhook:
    """POSTs one alert once: True if the receiver answered 2xx. Never raises for the receiver's faults."""

    def __init__(self, secret: str | None = None, allow_private: bool = False,
                 timeout: float = WEBHOOK_TIMEOUT_SECONDS, resolver: Resolve = resolve) -> None:
        self._secret = secret
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolver = resolver

    async def __call__(self, organisation_id: str, url: str, body: bytes) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                status = await self._post(url, body)
        except (TimeoutError, httpx.HTTPError, OSError, ValueError) as error:
            LOGGER.warning("budget alert of %s not delivered: %s", organisation_id, type(error).__name__)
            return False
        if not 200 <= status < 300:
            LOGGER.warning("budget alert of %s not delivered: HTTP %d", organisation_id, status)
        return 200 <= status < 300

    async def _post(self, url: str, body: bytes) -> int:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host or parsed.userinfo:
            raise ValueError("not an http(s) URL without user information")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = await self._resolver(parsed.host, port)
        if not addresses:
            raise OSError("the host does not resolve")
        if not self._allow_private and not all(is_public(address) for address in addresses):
            raise PermissionError("the host resolves to a non-public address")
        headers = {"content-type": "application/json", "host": parsed.netloc.decode("ascii"),
                   "user-agent": "llmaas-budget-alerts"}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=self._timeout) as client:
            response = await client.post(parsed.copy_with(host=addresses[0]), content=body, headers=headers,
                                         extensions={"sni_hostname": parsed.host})
        return response.status_code


class BudgetWatcher:
    def __init__(self, organisations: OrganisationStore, ledger: Ledger, alert_store: AlertStore,
                 interval_seconds: float, clock: Callable[[], float] = time.time, deliver: Deliver | None = None,
                 retry_seconds: float = 1.0) -> None:
        self._organisations = organisations
        self._ledger = ledger
        self._alerts = alert_store
        self._interval = interval_seconds
        self._clock = clock
        self._deliver = deliver or Webhook()
        self._retry = retry_seconds  # before the second try; doubled before the third
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            await tasks.stop(self._task)

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except DATABASE_UNREACHABLE as error:
                LOGGER.warning("budget alerts not checked: the database is unreachable (%s)", type(error).__name__)
            except Exception as error:  # noqa: BLE001 - one bad check (a corrupt row) must not end the watcher
                LOGGER.error("budget alerts not checked: %s", type(error).__name__)
            await asyncio.sleep(self._interval)

    async def check_once(self) -> None:
        """Fires the thresholds each organisation's spend this month has reached, and delivers those fired here."""
        now = self._clock()
        month = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m")
        since = window_bounds(Window.MONTH, now)[0]
        fired: list[tuple[Organisation, FiredAlert]] = []
        for organisation in await asyncio.to_thread(self._organisations.all):
            budget = organisation.contract.monthly_spend_cap_usd
            if budget is None or budget <= 0 or not organisation.alerts.thresholds_percent:
                continue
            spent = await asyncio.to_thread(self._ledger.spent_by_organisation, organisation.id, since)
            for threshold in organisation.alerts.thresholds_percent:
                if spent * 100 >= threshold * budget:
                    alert = await asyncio.to_thread(self._alerts.fire, organisation.id, month, threshold, budget,
                                                    spent)
                    if alert is not None:
                        fired.append((organisation, alert))
        await asyncio.gather(*(self._send(organisation, alert) for organisation, alert in fired))

    async def _send(self, organisation: Organisation, alert: FiredAlert) -> None:
        if organisation.alerts.webhook_url is None:
            return  # shown in the console and the budget endpoint only
        url, body = str(organisation.alerts.webhook_url), payload(alert)
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(self._retry * 2 ** (attempt - 1))
            delivered = await self._deliver(organisation.id, url, body)
            await asyncio.to_thread(self._alerts.attempted, alert, delivered)
            if delivered:
                return
