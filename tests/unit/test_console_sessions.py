"""Console sessions: idle and absolute expiry (an injected clock), CSRF on every request that changes something,
sign-out, and what the console's pages send (security headers, content types, caching)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from serve_app import console
from serve_app.console.sessions import CONSOLE_SESSIONS, COOKIE, IDLE_SECONDS, LIFETIME_SECONDS
from serve_app.principals import Principal
from serve_app.settings import Settings
from tests.support.console_app import Clock, console_app, database

ADMIN = Principal(who="https://idp.acme.test alice@acme.test", role="organisation_admin",
                  organisation_id="org_acme", via="session")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return database(tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(engine: Engine, clock: Clock) -> console.ConsoleSessions:
    return console.ConsoleSessions(engine, clock=clock)


@pytest.fixture
def client(engine: Engine, sessions: console.ConsoleSessions, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", admin_token="t")
    with TestClient(console_app(engine, settings, sessions)) as test_client:
        yield test_client


def signed_in(client: TestClient, sessions: console.ConsoleSessions) -> str:
    """Signs ``client`` in as :data:`ADMIN`; its CSRF token."""
    value, session = asyncio.run(sessions.create(ADMIN))
    client.cookies.set(COOKIE, value)
    return session.csrf_token


def rows(engine: Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(CONSOLE_SESSIONS)).scalar_one())


def test_signed_out_the_session_is_a_401_and_the_admin_api_sees_no_principal(client: TestClient) -> None:
    response = client.get("/console/session")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_signed_in"
    assert client.get("/admin/v1/probe").json()["error"]["code"] == "invalid_admin_token"


def test_the_session_shows_who_and_its_csrf_token(client: TestClient, sessions: console.ConsoleSessions,
                                                  clock: Clock) -> None:
    csrf = signed_in(client, sessions)
    response = client.get("/console/session")
    assert response.json() == {"role": "organisation_admin", "organisation_id": "org_acme", "who": ADMIN.who,
                               "csrf_token": csrf, "expires_at": int(clock.now + IDLE_SECONDS)}
    assert response.headers["cache-control"] == "no-store"


def test_a_session_idle_for_30_minutes_has_expired(client: TestClient, sessions: console.ConsoleSessions,
                                                   clock: Clock, engine: Engine) -> None:
    signed_in(client, sessions)
    clock.now += IDLE_SECONDS - 60
    assert client.get("/admin/v1/probe").status_code == 200  # used: the idle timer starts again
    clock.now += IDLE_SECONDS - 60
    assert client.get("/admin/v1/probe").status_code == 200
    clock.now += IDLE_SECONDS
    expired = client.get("/admin/v1/probe")
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "session_expired"
    assert rows(engine) == 0
    assert client.get("/console/session").json()["error"]["code"] == "session_expired"


def test_a_session_in_use_ends_12_hours_after_sign_in(client: TestClient, sessions: console.ConsoleSessions,
                                                      clock: Clock) -> None:
    signed_in(client, sessions)
    start = clock.now
    while clock.now + 20 * 60 < start + LIFETIME_SECONDS:
        clock.now += 20 * 60
        assert client.get("/admin/v1/probe").status_code == 200
    clock.now = start + LIFETIME_SECONDS
    assert client.get("/admin/v1/probe").json()["error"]["code"] == "session_expired"


def test_an_unknown_cookie_is_an_expired_session(client: TestClient) -> None:
    client.cookies.set(COOKIE, "made-up")
    assert client.get("/admin/v1/probe").json()["error"]["code"] == "session_expired"


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_change_without_the_csrf_token_is_refused(client: TestClient, sessions: console.ConsoleSessions,
                                                    method: str) -> None:
    csrf = signed_in(client, sessions)
    for headers in ({}, {"x-csrf-token": "wrong"}, {"x-csrf-token": csrf[:-1]}):
        response = client.request(method, "/admin/v1/probe", headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_token_invalid"
    assert client.request(method, "/admin/v1/probe", headers={"x-csrf-token": csrf}).status_code == 200
    assert client.get("/admin/v1/probe").status_code == 200  # reading needs no token


def test_sign_out_needs_the_token_and_deletes_the_session(client: TestClient, sessions: console.ConsoleSessions,
                                                          engine: Engine) -> None:
    csrf = signed_in(client, sessions)
    value = client.cookies[COOKIE]
    assert client.post("/console/logout").status_code == 403
    assert client.post("/console/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert rows(engine) == 1
    response = client.post("/console/logout", headers={"x-csrf-token": csrf})
    assert response.status_code == 200 and rows(engine) == 0
    assert f'{COOKIE}=""' in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    client.cookies.set(COOKIE, value)  # the old cookie, kept by someone
    assert client.get("/admin/v1/probe").json()["error"]["code"] == "session_expired"


def test_sign_out_by_form_posts_the_token_and_goes_back_to_the_console(client: TestClient, engine: Engine,
                                                                        sessions: console.ConsoleSessions) -> None:
    csrf = signed_in(client, sessions)
    response = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console" and rows(engine) == 0


@pytest.mark.parametrize(("path", "content_type"), [
    ("/console", "text/html; charset=utf-8"), ("/console/static/console.js", "text/javascript; charset=utf-8"),
    ("/console/static/console.css", "text/css; charset=utf-8")])
def test_console_files_are_served_with_strict_headers(client: TestClient, path: str, content_type: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == content_type
    policy = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                      "frame-ancestors 'none'", "form-action 'self'"):
        assert directive in policy
    assert "unsafe" not in policy
    assert response.headers["x-frame-options"] == "DENY" and response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/console").text
    assert "http://" not in page and "https://" not in page and "<style" not in page
    assert '<script src="/console/static/console.js" defer></script>' in page
    assert ".innerHTML" not in client.get("/console/static/console.js").text


def test_only_the_console_files_are_served(client: TestClient) -> None:
    for name in ("index.html", "..%2Fsessions.py", "missing.js"):
        assert client.get(f"/console/static/{name}").status_code == 404
    assert client.get("/console/", follow_redirects=False).headers["location"] == "/console"


def test_sign_in_refusals_carry_the_security_headers(client: TestClient) -> None:
    response = client.get("/console/callback", params={"state": "forged", "code": "x"})
    assert response.status_code == 400 and response.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in response.headers
