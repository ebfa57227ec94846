"""Budget alerts: two watchers on one database (two ingress replicas) racing fire each threshold once, delivered
signed to a webhook listener of the test's own; a failing webhook is retried, recorded undelivered, and stops
nothing; a new month fires again; no budget, no alert; the budget endpoint shows what fired."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import http.server
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from serve_app.database import connect
from serve_app.governance.ledger import Ledger
from serve_app.governance.quotas import Quotas
from serve_app.governance.records import UsageRecord
from serve_app.organisations.alert_store import AlertStore, FiredAlert
from serve_app.organisations.alerts import BudgetWatcher, Webhook, payload
from serve_app.organisations.model import BudgetAlerts, CreateOrganisation
from serve_app.organisations.store import OrganisationStore
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.background_server import serving

SECRET = "webhook-secret"
JANUARY = dt.datetime(2030, 1, 15, 12, tzinfo=dt.UTC).timestamp()
FEBRUARY = dt.datetime(2030, 2, 3, 8, tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Listener(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def bodies(self, path: str) -> list[dict[str, object]]:
        return [json.loads(item.body) for item in self.received if item.path == path]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Listener

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        status = {"/fail": 500, "/redirect": 302}.get(self.path.partition("?")[0], 204)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", self.server.url("/elsewhere"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[Listener]:
    with serving(Listener()) as server:
        yield server


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"budget_alert_interval_seconds": 0.05, "webhook_allow_private": True,
                                       "webhook_secret": SECRET})


@pytest.fixture
def database(settings: Settings) -> Engine:
    return connect(settings)


class Replicas:
    """Two ingress replicas' watchers, each with its own engine on the same database, at a clock the test sets."""

    def __init__(self, settings: Settings) -> None:
        self.now = JANUARY
        self.watchers = []
        for _ in range(2):
            engine = connect(settings)
            self.watchers.append(BudgetWatcher(
                OrganisationStore(engine), Ledger(engine), AlertStore(engine), 0.05, clock=lambda: self.now,
                deliver=Webhook(SECRET, allow_private=True), retry_seconds=0.01))

    async def race(self, rounds: int = 4) -> None:
        await asyncio.gather(*(watcher.check_once() for watcher in self.watchers for _ in range(rounds)))


def organisation(database: Engine, org_id: str, webhook: str | None, budget: float | None = 1.0,
                 thresholds: tuple[int, ...] = (50, 100)) -> None:
    OrganisationStore(database).create(CreateOrganisation(
        id=org_id, name=org_id, contract=Quotas(monthly_spend_cap_usd=budget) if budget is not None else None,
        alerts=BudgetAlerts(thresholds_percent=list(thresholds), webhook_url=webhook)))  # type: ignore[arg-type]


def spend(database: Engine, org_id: str, cost: float, at: float) -> None:
    Ledger(database).write([UsageRecord(request_id="req_" + secrets.token_hex(8), key_id="key_x", model="fake-chat",
                                        endpoint="/v1/chat/completions", cost_usd=cost, ended_at=at,
                                        organisation_id=org_id)])


def verified(received: Received) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["x-llmaas-signature"], expected)


async def test_each_threshold_fires_once_across_replicas(settings: Settings, database: Engine,
                                                        listener: Listener) -> None:
    organisation(database, "org_acme", listener.url("/acme"))
    replicas = Replicas(settings)
    spend(database, "org_acme", 0.2, JANUARY - 3600)
    spend(database, "org_acme", 0.4, JANUARY)
    spend(database, "org_acme", 5.0, JANUARY - 40 * 86400)  # last year's December: not this month's
    await replicas.race()
    assert [(body["threshold_percent"], body["month"]) for body in listener.bodies("/acme")] == [(50, "2030-01")]
    first = listener.received[0]
    assert verified(first) and first.headers["content-type"] == "application/json"
    assert json.loads(first.body) == {"type": "budget.threshold_crossed", "organisation_id": "org_acme",
                                      "month": "2030-01", "threshold_percent": 50, "budget_usd": 1.0,
                                      "spent_usd": pytest.approx(0.6), "fired_at": pytest.approx(time.time(), abs=60)}

    spend(database, "org_acme", 0.4, JANUARY + 60)  # exactly 100 %: reached
    await replicas.race()
    await replicas.race()
    assert [body["threshold_percent"] for body in listener.bodies("/acme")] == [50, 100]
    assert all(verified(item) for item in listener.received)
    fired = AlertStore(database).fired("org_acme", "2030-01")
    assert [(a.threshold_percent, a.attempts, a.delivered_at is not None) for a in fired] == [(50, 1, True),
                                                                                             (100, 1, True)]

    replicas.now = FEBRUARY  # a new month: nothing spent yet, then its own crossings
    await replicas.race()
    assert len(listener.received) == 2
    spend(database, "org_acme", 0.7, FEBRUARY)
    await replicas.race()
    assert [(body["threshold_percent"], body["month"]) for body in listener.bodies("/acme")][2:] == [(50, "2030-02")]


async def test_a_failing_webhook_is_retried_and_stops_nothing(settings: Settings, database: Engine,
                                                             listener: Listener,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    organisation(database, "org_down", listener.url("/fail?token=do-not-log"), thresholds=(50,))
    organisation(database, "org_up", listener.url("/up"), thresholds=(50,))
    organisation(database, "org_quiet", None, thresholds=(50,))  # fires, shown by the endpoint, nothing sent
    organisation(database, "org_unbudgeted", listener.url("/none"), budget=None)
    organisation(database, "org_zero", listener.url("/none"), budget=0.0)
    for org_id in ("org_down", "org_up", "org_quiet", "org_unbudgeted", "org_zero"):
        spend(database, org_id, 3.0, JANUARY)
    replicas = Replicas(settings)
    with caplog.at_level(logging.WARNING, logger="serve_app.organisations.alerts"):
        await replicas.race()
        await replicas.race()
    assert [item.path for item in listener.received].count("/fail?token=do-not-log") == 3
    assert len(listener.bodies("/up")) == 1 and listener.bodies("/none") == []
    store = AlertStore(database)
    [down] = store.fired("org_down")
    assert (down.attempts, down.delivered_at) == (3, None)
    assert [(a.attempts, a.delivered_at is None) for a in store.fired("org_quiet")] == [(0, True)]
    assert store.fired("org_unbudgeted") == [] and store.fired("org_zero") == []
    assert "org_down" in caplog.text and "HTTP 500" in caplog.text and "do-not-log" not in caplog.text


async def test_webhook_refuses_private_addresses_redirects_and_signs_only_with_a_secret(
        listener: Listener) -> None:
    body = payload(FiredAlert("org_a", "2030-01", 50, 1.0, 0.5, JANUARY, None, 0))
    assert await Webhook(SECRET)("org_a", listener.url("/private"), body) is False  # loopback: not by default
    assert listener.received == []
    assert await Webhook(SECRET, allow_private=True)("org_a", "ftp://127.0.0.1/x", body) is False
    assert await Webhook(SECRET, allow_private=True)("org_a", listener.url("/redirect"), body) is False
    assert [item.path for item in listener.received] == ["/redirect"]  # not followed
    assert await Webhook(None, allow_private=True)("org_a", listener.url("/unsigned"), body) is True
    assert "x-llmaas-signature" not in listener.received[-1].headers


def test_the_budget_endpoint_shows_fired_alerts(client: TestClient, settings: Settings, database: Engine,
                                                listener: Listener) -> None:
    operator = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = client.post("/admin/v1/organisations", headers=operator, json={
        "id": "org_shop", "name": "Shop", "contract": {"monthly_spend_cap_usd": 2},
        "alerts": {"thresholds_percent": [25, 90], "webhook_url": listener.url("/shop")}})
    assert created.status_code == 200, created.text
    spend(database, "org_shop", 0.6, time.time())
    deadline = time.monotonic() + 10
    while True:
        budget = client.get("/admin/v1/organisations/org_shop/budget", headers=operator).json()
        if (budget["alerts"] and budget["alerts"][0]["delivered"]) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(a["threshold_percent"], a["delivered"], a["attempts"]) for a in budget["alerts"]] == [(25, True, 1)]
    assert [body["threshold_percent"] for body in listener.bodies("/shop")] == [25]
    assert verified(listener.received[0])
