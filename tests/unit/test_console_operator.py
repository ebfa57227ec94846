"""The console's operator pages in headless Chromium, against the in-process platform (stand-in engines) served over
real HTTP by uvicorn, the operator signed in through the real OpenID Connect provider of
tests/support/oidc_provider.py: organisations (contract, sign-in, alerts), a key for one of them, incidents and
maintenance on the status page, the audit log, French; what the admin API then holds is checked through it.
Screenshots (1280 px and a phone) go to test-artifacts/console-operator-*.png."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, ViewportSize, sync_playwright
from starlette.types import ASGIApp

from serve_app.database import connect
from serve_app.settings import Settings
from serve_app.status.incidents import IncidentStore
from serve_app.status.states import State
from tests.conftest import ADMIN_TOKEN, ROOT
from tests.support.oidc_provider import Provider, running_provider

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)
ORG = "org_globex"

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        running.client("operator-console")
        running.user("root", email="root@operator.test", email_verified=True, roles=["llmaas-admin"])
        yield running


@pytest.fixture
def settings(settings: Settings, provider: Provider) -> Settings:
    return settings.model_copy(update={"oidc_issuer": provider.url, "oidc_audience": "llmaas-admin-api",
                                       "console_client_id": "operator-console"})


@pytest.fixture
def base_url(app: ASGIApp) -> Iterator[str]:
    """The in-process platform over real HTTP on 127.0.0.1 (the provider is `localhost`: another site)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def admin_api(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)


def local_minutes(moment: dt.datetime) -> str:
    """A `datetime-local` input's value (the browser's time zone is the machine's, as here)."""
    return moment.astimezone().strftime("%Y-%m-%dT%H:%M")


def test_an_operator_onboards_an_organisation(base_url: str, settings: Settings, provider: Provider) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    IncidentStore(connect(settings)).reconcile({"fake-chat": State.PARTIAL_OUTAGE}, time.time())
    elsewhere: list[str] = []

    def shot(page: Page, name: str, viewport: ViewportSize = DESKTOP) -> None:
        page.set_viewport_size(viewport)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # nothing sideways
        page.screenshot(path=str(ARTIFACTS / f"console-operator-{name}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport=DESKTOP, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(5000)
        page.on("request", lambda r: None if r.url.startswith((base_url, provider.url, "data:"))
                else elsewhere.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error"
                and not message.text.startswith("Failed to load resource") else None)  # 401 before sign-in
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)

        page.goto(f"{base_url}/console", wait_until="load")
        page.click("#operator-signin")
        page.get_by_role("button", name="root").click()
        page.wait_for_selector("nav a[href='#/organisations']")
        assert "operator" in page.inner_text("#who")

        page.click("nav a[href='#/organisations']")
        page.get_by_role("button", name="New organisation").click()
        dialog = page.locator("#dialog")
        dialog.locator("input[name=id]").fill(ORG)
        dialog.locator("input[name=name]").fill("Globex")
        dialog.locator("input[name=monthly_spend_cap_usd]").fill("250")
        dialog.locator("input[name=requests_per_minute]").fill("600")
        dialog.locator("input[name=issuer]").fill("https://login.globex.example/")
        dialog.locator("input[name=client_id]").fill("globex-console")
        dialog.locator("input[name=client_secret]").fill("globex-secret")
        dialog.locator("input[name=allowed_email_domains]").fill("globex.example, Globex.test")
        dialog.locator("input[name=require_mfa]").check()
        dialog.locator("input[name=thresholds_percent]").fill("25, 75, 100")
        shot(page, "organisation-new")
        dialog.locator("#dialog-actions button[value=save]").click()
        row = page.locator(f"tr[data-organisation-id={ORG}]")
        row.wait_for()
        assert "Globex" in row.inner_text() and "$250.00" in row.inner_text()

        with admin_api(base_url) as api:  # a limit the form does not show, set through the API, stays
            api.patch(f"/admin/v1/organisations/{ORG}", json={"contract": {
                "monthly_spend_cap_usd": 250, "requests_per_minute": 600, "max_concurrent_streams": 4}})
        page.reload()
        row.get_by_role("button", name="Edit").click()
        assert dialog.locator("input[name=thresholds_percent]").input_value() == "25, 75, 100"
        dialog.locator("input[name=name]").fill("Globex Corporation")
        dialog.locator("input[name=monthly_spend_cap_usd]").fill("300")
        dialog.locator("#dialog-actions button[value=save]").click()
        page.wait_for_selector(f"tr[data-organisation-id={ORG}] >> text=Globex Corporation")
        assert "$300.00" in page.locator(f"tr[data-organisation-id={ORG}]").inner_text()
        shot(page, "organisations")

        page.select_option("#organisation-scope", ORG)
        page.click("nav a[href='#/keys']")
        page.locator("#create-key input[name=name]").fill("globex-app")
        page.locator("#create-key input[name=requests_per_minute]").fill("60")
        page.locator("#create-key button[type=submit]").click()
        assert page.inner_text("#secret-value").startswith("sk-")
        page.keyboard.press("Escape")
        page.wait_for_selector("tr[data-key-id]")
        assert "globex-app" in page.inner_text("table")
        shot(page, "keys")

        page.click("nav a[href='#/status']")
        incident = page.locator("section.incident").first
        incident.locator("input[name=title]").fill("Chat answers slowly")
        incident.get_by_role("button", name="Save title").click()
        page.wait_for_selector("section.incident h3 >> text=Chat answers slowly")
        incident = page.locator("section.incident").first
        incident.locator("select[name=status]").select_option("identified")
        incident.locator("textarea[name=message]").fill("A node lost its GPU; traffic moved.")
        incident.get_by_role("button", name="Post").click()
        page.wait_for_selector("section.incident li >> text=A node lost its GPU")
        starts = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        schedule = page.locator("#schedule-maintenance")
        schedule.locator("input[name=title]").fill("GPU driver upgrade")
        schedule.locator("input[name=models]").fill("fake-chat")
        schedule.locator("input[name=starts_at]").fill(local_minutes(starts))
        schedule.locator("input[name=ends_at]").fill(local_minutes(starts + dt.timedelta(hours=2)))
        schedule.get_by_role("button", name="Schedule").click()
        page.wait_for_selector("tr[data-maintenance-id] >> text=GPU driver upgrade")
        shot(page, "status")

        page.click("nav a[href='#/audit']")
        page.wait_for_selector("table tbody tr")
        assert "POST /admin/v1/maintenance" not in page.inner_text("table")  # scoped to Globex's entries
        page.select_option("#organisation-scope", "")
        page.wait_for_selector("table >> text=POST /admin/v1/maintenance")
        audit = page.inner_text("table")
        for action in ("POST /admin/v1/organisations", "PATCH /admin/v1/organisations/{organisation_id}",
                       "POST /admin/v1/keys", "PATCH /admin/v1/incidents/{incident_id}",
                       "POST /admin/v1/incidents/{incident_id}/updates", "POST /admin/v1/maintenance"):
            assert action in audit
        assert "root@operator.test" in audit
        shot(page, "audit")

        page.select_option("#lang", "fr")
        page.click("nav a[href='#/organisations']")
        page.wait_for_selector("h1 >> text=Organisations")
        page.wait_for_selector(f"tr[data-organisation-id={ORG}]")
        shot(page, "organisations-fr")
        shot(page, "organisations-phone-fr", PHONE)
        page.click("nav a[href='#/keys']")
        page.wait_for_selector("tr[data-key-id]")
        shot(page, "keys-phone-fr", PHONE)
        page.click("nav a[href='#/status']")
        page.wait_for_selector("tr[data-maintenance-id]")
        shot(page, "status-phone-fr", PHONE)
        assert errors == [] and elsewhere == []
        context.close()
        browser.close()

    with admin_api(base_url) as api:
        organisation = api.get(f"/admin/v1/organisations/{ORG}").json()
        assert organisation["name"] == "Globex Corporation"
        assert organisation["contract"] == {"monthly_spend_cap_usd": 300.0, "requests_per_minute": 600,
                                            "max_concurrent_streams": 4}
        assert organisation["sso"] == {"issuer": "https://login.globex.example", "client_id": "globex-console",
                                       "allowed_email_domains": ["globex.example", "globex.test"],
                                       "group_claim": None, "group_value": None, "require_mfa": True,
                                       "client_secret_set": True}
        assert organisation["alerts"]["thresholds_percent"] == [25, 75, 100]
        (key,) = api.get("/admin/v1/keys", params={"organisation": ORG}).json()["data"]
        assert key["name"] == "globex-app" and key["organisation_id"] == ORG
        assert key["quotas"]["requests_per_minute"] == 60
        (window,) = api.get("/admin/v1/maintenance").json()["data"]
        assert window["title"] == "GPU driver upgrade" and window["models"] == ["fake-chat"]
        assert abs(window["starts_at"] - starts.replace(second=0, microsecond=0).timestamp()) < 1
        (shown,) = api.get("/status.json").json()["incidents"]
        assert shown["title"] == "Chat answers slowly"
        assert shown["updates"][0]["message"] == "A node lost its GPU; traffic moved."
