"""The console's routes: the page, its three static files, the session as the page sees it, and sign-in.

Every console response carries a strict Content-Security-Policy (nothing from elsewhere, no inline script or
style, no framing) and no referrer, so that a sign-in URL's code or state never leaks to another site.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from serve_app.console.issuer import Issuers
from serve_app.console.logins import PendingLogins
from serve_app.console.sessions import ConsoleSessions
from serve_app.console.signin import SignIn
from serve_app.errors import AuthenticationError
from serve_app.organisations.store import OrganisationStore
from serve_app.settings import Settings

STATIC = {"index.html": "text/html; charset=utf-8", "console.js": "text/javascript; charset=utf-8",
          "console.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
                               "object-src 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Each file's bytes and ETag, read once when the routes are built."""
    folder = resources.files("serve_app.console") / "static"
    files = {}
    for name in STATIC:
        body = (folder / name).read_bytes()
        files[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return files


def secured(endpoint_response: Response) -> Response:
    endpoint_response.headers.update(SECURITY_HEADERS)
    return endpoint_response


def routes(sessions: ConsoleSessions, logins: PendingLogins, organisations: OrganisationStore,
           settings: Settings) -> list[Route]:
    files = _static_files()
    signin = SignIn(sessions, logins, organisations, settings, Issuers())

    def static(name: str, request: Request) -> Response:
        body, etag = files[name]
        headers = {"etag": etag, "cache-control": "no-cache"}  # revalidated: a new release shows at once
        if request.headers.get("if-none-match") == etag:
            return secured(Response(status_code=304, headers=headers))
        return secured(Response(body, media_type=STATIC[name], headers=headers))

    async def index(request: Request) -> Response:
        return static("index.html", request)

    async def static_file(request: Request) -> Response:
        name = request.path_params["file"]
        if name not in STATIC or name == "index.html":
            return secured(Response("Not found", status_code=404, media_type="text/plain"))
        return static(name, request)

    async def session(request: Request) -> Response:
        found = await sessions.session(request)
        if found is None:
            raise AuthenticationError("You are not signed in to the console.", code="not_signed_in")
        return secured(JSONResponse(found.public(), headers={"cache-control": "no-store"}))

    async def slash(request: Request) -> Response:
        return RedirectResponse("/console", status_code=308)

    async def login(request: Request) -> Response:
        return secured(await signin.login(request))

    async def callback(request: Request) -> Response:
        return secured(await signin.callback(request))

    async def logout(request: Request) -> Response:
        return secured(await signin.logout(request))

    return [
        Route("/console", index, methods=["GET"]),
        Route("/console/", slash, methods=["GET"]),
        Route("/console/static/{file}", static_file, methods=["GET"]),
        Route("/console/session", session, methods=["GET"]),
        Route("/console/login", login, methods=["GET"]),
        Route("/console/callback", callback, methods=["GET"]),
        Route("/console/logout", logout, methods=["POST"]),
    ]
