"""The console's routes in a bare Starlette app, as the ingress serves them (the platform's error handling and
request ids), with one stand-in admin route that asks the sessions for the caller, as the admin API will."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from serve_app import console
from serve_app.database import connect
from serve_app.errors import EXCEPTION_TYPES, AuthenticationError, handle_exception
from serve_app.http import RequestContextMiddleware
from serve_app.organisations.store import OrganisationStore
from serve_app.settings import Settings
from tests.support.oidc_provider import Provider


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def database(directory: Path) -> Engine:
    """The platform's database in ``directory``, migrated as every start migrates it (the console's tables too)."""
    return connect(Settings(data_dir=directory))


def console_app(engine: Engine, settings: Settings, sessions: console.ConsoleSessions,
                clock: Callable[[], float] | None = None) -> ASGIApp:
    logins = console.PendingLogins(engine, clock) if clock else console.PendingLogins(engine)

    async def probe(request: Request) -> JSONResponse:
        principal = await sessions.principal(request)
        if principal is None:
            raise AuthenticationError("Invalid admin credentials.", code="invalid_admin_token")
        return JSONResponse({"who": principal.who, "role": principal.role,
                             "organisation_id": principal.organisation_id, "via": principal.via})

    routes = [*console.routes(sessions, logins, OrganisationStore(engine), settings),
              Route("/admin/v1/probe", probe, methods=["GET", "POST", "DELETE"])]
    app = Starlette(routes=routes, exception_handlers=dict.fromkeys(EXCEPTION_TYPES, handle_exception))
    return RequestContextMiddleware(app, max_body_bytes=64 * 1024)


def start_sign_in(client: TestClient, query: dict[str, str], **headers: str) -> str:
    """``/console/login``: the issuer's authorization URL it redirects to."""
    response = client.get("/console/login", params=query, headers=headers, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def choose_account(authorization_url: str, sub: str) -> str:
    """What the person's browser does at the issuer: picks the account; the callback URL it is sent back to."""
    response = httpx.post(authorization_url, data={"sub": sub}, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def sign_in(client: TestClient, provider: Provider, sub: str, query: dict[str, str], **headers: str) -> httpx.Response:
    callback = choose_account(start_sign_in(client, query, **headers), sub)
    assert urlparse(callback).path == "/console/callback" and "code" in parse_qs(urlparse(callback).query)
    return client.get(callback, headers=headers, follow_redirects=False)
