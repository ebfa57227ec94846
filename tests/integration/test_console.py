"""The console on the real platform, in headless Chromium, signed in through a real OpenID Connect provider run by
this module (tests/support/oidc_provider.py: PKCE required; named `localhost` while the platform is 127.0.0.1, so
the issuer is another site, as a customer's is).

An organisation's administrator signs in, creates a key, sees its secret once, calls a model with it through the
`openai` SDK, sees the consumption appear, rotates and revokes it; another organisation's administrator sees none
of it; missing MFA, forged and replayed callbacks, a missing CSRF token and an ended session are refused.
Screenshots (1280 px and a phone, English and French) go to test-artifacts/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import delete

from serve_app.console.sessions import CONSOLE_SESSIONS
from tests.integration.conftest import ARTIFACTS, Platform
from tests.support.oidc_provider import Provider, running_provider

pytestmark = pytest.mark.integration
SMOL = "SmolLM2-135M-Instruct"
ACME, BETA = "org_console_acme", "org_console_beta"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def provider(platform: Platform) -> Iterator[Provider]:
    with running_provider() as running:
        running.client("acme-console")
        running.client("beta-console", secret="beta-secret")
        running.user("alice", email="alice@acme.test", email_verified=True, amr=["pwd", "otp"])
        running.user("mallory", email="mallory@acme.test", email_verified=True, amr=["pwd"])
        running.user("bob", email="bob@beta.test", email_verified=True)
        for org_id, name, sso in (
                (ACME, "Acme", {"client_id": "acme-console", "allowed_email_domains": ["acme.test"],
                                "require_mfa": True}),
                (BETA, "Beta", {"client_id": "beta-console", "client_secret": "beta-secret"})):
            response = httpx.post(f"{platform.base_url}/admin/v1/organisations", headers=platform.admin_headers,
                                  json={"id": org_id, "name": name, "contract": {"monthly_spend_cap_usd": 50},
                                        "sso": {"issuer": running.url, **sso}}, timeout=30)
            assert response.status_code == 200, response.text
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Console:
    """One person's browser on the console; every request it makes is checked to stay on the platform or the
    identity provider."""

    def __init__(self, browser: Browser, platform: Platform, provider: Provider, locale: str = "en-US") -> None:
        self.base = platform.base_url
        self.context: BrowserContext = browser.new_context(viewport=DESKTOP, locale=locale)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.base)
        self.page: Page = self.context.new_page()
        self.elsewhere: list[str] = []
        self.callbacks: list[str] = []
        allowed = (self.base, provider.url, "data:")
        self.page.on("request", lambda r: None if r.url.startswith(allowed) else self.elsewhere.append(r.url))
        self.page.on("request", lambda r: self.callbacks.append(r.url) if "/console/callback" in r.url else None)

    def sign_in(self, organisation: str, sub: str) -> int:
        """Signs in as ``sub`` at ``organisation``'s issuer; the callback's status."""
        self.page.goto(f"{self.base}/console", wait_until="load")
        self.page.locator("#signin input[name=organisation]").fill(organisation)
        with self.page.expect_response(lambda r: "/console/callback" in r.url) as callback:
            self.page.locator("#signin button[type=submit]").click()
            self.page.get_by_role("button", name=sub).click()
        status = callback.value.status
        if status == 303:
            self.page.wait_for_selector("#create-key")
        return status

    def shot(self, name: str, viewport: dict[str, int] = DESKTOP) -> None:
        self.page.set_viewport_size(viewport)
        self.page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)
        self.page.set_viewport_size(DESKTOP)

    def fetch(self, method: str, path: str, csrf: bool = True) -> dict[str, Any]:
        """The admin API as the page calls it (same origin, the session cookie, its CSRF token or not)."""
        result: dict[str, Any] = self.page.evaluate(
            """async ([method, path, csrf]) => {
                 const session = await (await fetch("/console/session")).json();
                 const headers = csrf ? {"x-csrf-token": session.csrf_token} : {};
                 if (method !== "GET") headers["content-type"] = "application/json";
                 const response = await fetch(path, {method, headers, credentials: "same-origin",
                                                     body: method === "GET" ? undefined : "{}"});
                 return {status: response.status, body: await response.json()};
               }""", [method, path, csrf])
        return result

    def close(self) -> None:
        self.context.close()


def secret_shown(page: Page) -> str:
    page.wait_for_selector("#secret-value")
    secret = page.inner_text("#secret-value")
    assert secret.startswith("sk-")
    return secret


def close_dialog(page: Page) -> None:
    page.keyboard.press("Escape")  # dialogs close with Escape
    page.wait_for_selector("#dialog", state="hidden")


def key_row(page: Page, name: str) -> Any:
    return page.locator("tr", has=page.locator("td", has_text=name)).first


def chat(platform: Platform, secret: str) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(api_key=secret, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=300)
    return client.chat.completions.create(model=SMOL, max_tokens=5, temperature=0,
                                          messages=[{"role": "user", "content": "Say hello."}])


def test_an_organisation_admin_manages_a_key_end_to_end(platform: Platform, provider: Provider,
                                                        browser: Browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    alice = Console(browser, platform, provider)
    page = alice.page
    assert alice.sign_in(ACME, "alice") == 303
    assert "organisation administrator" in page.inner_text("#who")
    assert page.locator("nav a[href='#/organisations']").count() == 0  # operators only

    page.locator("#create-key input[name=name]").fill("console-app")
    page.locator("#create-key input[name=requests_per_minute]").fill("100")
    page.locator("#create-key button[type=submit]").click()
    secret = secret_shown(page)
    page.click("#copy-secret")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    alice.shot("secret-once")
    close_dialog(page)
    page.wait_for_selector("tr[data-key-id]")
    assert secret not in page.content()  # shown once: not in the list, not left in the closed dialog
    key_id = key_row(page, "console-app").get_attribute("data-key-id")
    alice.shot("keys")

    answer = chat(platform, secret)
    assert answer.usage is not None and answer.usage.total_tokens > 0

    page.click("nav a[href='#/usage']")
    deadline = time.monotonic() + 90
    while "console-app" not in page.inner_text("#usage-results") and time.monotonic() < deadline:
        page.wait_for_timeout(1000)  # the page refreshes itself every 5 s
    assert "console-app" in page.inner_text("#usage-results")
    assert page.locator("svg.chart rect.bar").count() >= 1
    assert int(page.inner_text("[data-total=requests]").replace(",", "")) >= 1
    csv = page.get_attribute("#usage-csv", "href")
    assert csv is not None and "format=csv" in csv
    assert key_id in alice.context.request.get(f"{platform.base_url}{csv}").text()
    alice.shot("usage")

    page.click("nav a[href='#/keys']")
    key_row(page, "console-app").get_by_role("button", name="Rotate").click()
    page.click("#dialog-actions button[value=ok]")
    rotated = secret_shown(page)
    close_dialog(page)
    assert rotated != secret
    with pytest.raises(openai.AuthenticationError):
        chat(platform, secret)
    chat(platform, rotated)

    page.wait_for_selector("tr[data-key-id]")
    key_row(page, "console-app").get_by_role("button", name="Revoke").click()
    page.click("#dialog-actions button[value=ok]")
    page.wait_for_selector("tr[data-key-id] .badge.off")
    with pytest.raises(openai.AuthenticationError):
        chat(platform, rotated)

    page.select_option("#lang", "fr")
    page.wait_for_selector("text=Clés d'API")
    alice.shot("keys-phone-fr", PHONE)
    page.click("nav a[href='#/budget']")
    page.wait_for_selector("#budget-alerts")
    alice.shot("budget-fr")
    page.click("nav a[href='#/audit']")
    page.wait_for_selector("table tbody tr")
    assert "/rotate" in page.inner_text("table")
    alice.shot("audit-phone-fr", PHONE)
    assert alice.elsewhere == []

    bob = Console(browser, platform, provider, locale="fr-FR")
    assert bob.sign_in(BETA, "bob") == 303
    assert "console-app" not in bob.page.inner_text("main")
    assert bob.fetch("GET", f"/admin/v1/keys/{key_id}")["status"] == 404
    assert bob.fetch("GET", f"/admin/v1/organisations/{ACME}/budget")["status"] == 404
    usage = bob.fetch("GET", "/admin/v1/usage?group_by=key_id")
    assert usage["status"] == 200 and all(row["key_id"] != key_id for row in usage["body"]["data"])
    bob.shot("keys-other-organisation-fr")
    bob.close()
    alice.close()


def test_missing_mfa_is_refused_in_the_persons_language(platform: Platform, provider: Provider,
                                                        browser: Browser) -> None:
    for locale, words in (("en-US", "multi-factor authentication"), ("fr-FR", "authentification multifacteur")):
        mallory = Console(browser, platform, provider, locale=locale)
        assert mallory.sign_in(ACME, "mallory") == 403
        assert words in mallory.page.inner_text("[role=alert]")
        assert mallory.fetch("GET", "/console/session")["status"] == 401
        mallory.shot(f"mfa-refused-{locale[:2]}")
        mallory.close()


def test_forged_and_replayed_callbacks_are_refused(platform: Platform, provider: Provider, browser: Browser) -> None:
    alice = Console(browser, platform, provider)
    forged = alice.page.goto(f"{platform.base_url}/console/callback?code=forged&state=forged")
    assert forged is not None and forged.status == 400
    assert alice.sign_in(ACME, "alice") == 303
    replayed = alice.page.goto(alice.callbacks[-1])
    assert replayed is not None and replayed.status == 400
    assert "already used" in alice.page.inner_text("[role=alert]")
    alice.shot("callback-replayed")
    alice.close()


def test_missing_csrf_and_ended_sessions_are_refused(platform: Platform, provider: Provider,
                                                     browser: Browser) -> None:
    alice = Console(browser, platform, provider)
    assert alice.sign_in(ACME, "alice") == 303
    refused = alice.fetch("POST", "/admin/v1/keys", csrf=False)
    assert refused["status"] == 403 and refused["body"]["error"]["code"] == "csrf_token_invalid"
    assert alice.fetch("GET", "/admin/v1/keys")["status"] == 200
    with platform.database.begin() as db:  # the server forgets every session, as when they time out
        db.execute(delete(CONSOLE_SESSIONS))
    ended = alice.fetch("GET", "/admin/v1/keys")
    assert ended["status"] == 401 and ended["body"]["error"]["code"] == "session_expired"
    alice.page.reload()
    alice.page.wait_for_selector("#signin")
    alice.close()
