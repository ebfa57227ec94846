"""``/console/login``, ``/console/callback`` and ``/console/logout``: signing in to the console with the
organisation's (or the operator's) OpenID Connect issuer, and out.

Sign-in starts with a plain link (no form: the page's ``form-action 'self'`` would stop a form's redirect to the
issuer). A refusal is a small page in the person's language with the status it deserves (400, 403, 404, 502).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from serve_app.console.issuer import Issuers
from serve_app.console.logins import LIFETIME_SECONDS, PendingLogin, PendingLogins
from serve_app.console.pages import refusal
from serve_app.console.policy import Policy, Refused, for_operator, for_organisation
from serve_app.console.sessions import CSRF_HEADER, ConsoleSessions, check_csrf, clear_cookie, is_https, set_cookie
from serve_app.errors import AuthenticationError
from serve_app.organisations.store import OrganisationStore
from serve_app.settings import Settings

logger = logging.getLogger("serve_app")
LOGIN_COOKIE = "llmaas_console_login"
CALLBACK_PATH = "/console/callback"


class SignIn:
    def __init__(self, sessions: ConsoleSessions, logins: PendingLogins, organisations: OrganisationStore,
                 settings: Settings, issuers: Issuers) -> None:
        self._sessions = sessions
        self._logins = logins
        self._organisations = organisations
        self._settings = settings
        self._issuers = issuers

    async def login(self, request: Request) -> Response:
        """302 to the issuer's authorization endpoint, with a cookie that binds the sign-in to this browser.
        The cookie is SameSite=Lax: it must come back on the issuer's (cross-site) redirect to the callback."""
        try:
            if request.query_params.get("operator") == "1":
                organisation_id = None
            elif request.query_params.get("organisation"):
                organisation_id = request.query_params["organisation"]
            else:
                raise Refused("bad_request", 400)
            policy = await self._policy(organisation_id)
            redirect_uri = str(request.base_url).rstrip("/") + CALLBACK_PATH
            state, browser, login = await self._logins.start(organisation_id, redirect_uri)
            url = await self._issuers.authorization_url(policy, login, state)
        except Refused as refused:
            return refusal(request, refused.reason, refused.status)
        response = RedirectResponse(url, status_code=302, headers={"cache-control": "no-store"})
        response.set_cookie(LOGIN_COOKIE, browser, max_age=LIFETIME_SECONDS, path=CALLBACK_PATH, httponly=True,
                            samesite="lax", secure=is_https(request))
        return response

    async def callback(self, request: Request) -> Response:
        """Finishes a sign-in once: a session and its cookie, then 303 to the console."""
        try:
            login = await self._pending(request)
            policy = await self._policy(login.organisation_id)
            claims = await self._issuers.claims(policy, login, request.query_params["code"])
            principal = policy.principal(claims)
        except Refused as refused:
            logger.info("console sign-in refused: %s", refused.reason)
            refused_page = refusal(request, refused.reason, refused.status)
            forget_login(refused_page, request)
            return refused_page
        value, _ = await self._sessions.create(principal)
        logger.info("console sign-in: %s as %s", principal.who, principal.role)
        response = RedirectResponse("/console", status_code=303, headers={"cache-control": "no-store"})
        forget_login(response, request)
        set_cookie(response, value, request)
        return response

    async def logout(self, request: Request) -> Response:
        """Deletes the session (a form posting ``csrf_token`` gets a 303 to the console; a script sending
        ``x-csrf-token``, a 200)."""
        from_form = CSRF_HEADER not in request.headers
        try:
            session = await self._sessions.session(request)
        except AuthenticationError:
            session = None  # already ended: signing out of it needs no token
        if session is not None:
            given = request.headers.get(CSRF_HEADER)
            if from_form and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                field = (await request.form()).get("csrf_token")
                given = field if isinstance(field, str) else None
            check_csrf(session, given)
            await self._sessions.delete(request)
        response: Response = (RedirectResponse("/console", status_code=303) if from_form
                              else JSONResponse({"signed_out": True}))
        clear_cookie(response, request)
        return response

    async def _pending(self, request: Request) -> PendingLogin:
        state = request.query_params.get("state")
        if not state:
            raise Refused("bad_request", 400)
        login = await self._logins.finish(state, request.cookies.get(LOGIN_COOKIE))
        if login is None:
            raise Refused("state_invalid", 400)
        if request.query_params.get("error") or not request.query_params.get("code"):
            raise Refused("provider_error", 400)
        return login

    async def _policy(self, organisation_id: str | None) -> Policy:
        if organisation_id is None:
            return for_operator(self._settings)
        return for_organisation(await asyncio.to_thread(self._organisations.get, organisation_id))


def forget_login(response: Response, request: Request) -> None:
    response.delete_cookie(LOGIN_COOKIE, path=CALLBACK_PATH, secure=is_https(request), httponly=True, samesite="lax")
