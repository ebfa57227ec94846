"""Who is calling: API keys for ``/v1``; for ``/admin``, a :class:`~serve_app.principals.Principal`: an operator
(the bootstrap admin token, or a JWT of the operator's OIDC issuer) or an organisation's administrator (a JWT
of that organisation's own issuer, or a console session)."""

from __future__ import annotations

import asyncio
import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
from starlette.requests import Request

from serve_app.auth_throttle import FailedAuthThrottle
from serve_app.errors import AuthenticationError
from serve_app.keys import ApiKey, KeyCache
from serve_app.oidc import OidcVerifier
from serve_app.principals import OrganisationSignIn, Principal, SessionAuthority

# With governance switched off (benchmarks only), every caller is this unmetered identity.
DEFAULT_FAILURES_PER_MINUTE = 30
OIDC_THREADS = 2
ANONYMOUS = ApiKey(id="anonymous", name="anonymous", hint="", tier="unlimited", created_at=0, internal=True)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _redacted(secret: str) -> str:
    return f"{secret[:3]}*****{secret[-4:]}" if len(secret) > 10 else "*****"


class Authenticator:
    def __init__(self, keys: KeyCache, admin_token: str | None, oidc: OidcVerifier | None = None,
                 require_keys: bool = True, throttle: FailedAuthThrottle | None = None,
                 organisations: OrganisationSignIn | None = None, sessions: SessionAuthority | None = None,
                 oidc_issuer: str | None = None) -> None:
        self._keys = keys
        self._organisations = organisations
        self._sessions = sessions
        self._oidc_issuer = oidc_issuer.rstrip("/") if oidc_issuer else None
        self._throttle = throttle or FailedAuthThrottle(DEFAULT_FAILURES_PER_MINUTE)
        self._oidc_pool = ThreadPoolExecutor(max_workers=OIDC_THREADS, thread_name_prefix="oidc")
        self._admin_token = admin_token
        self._oidc = oidc
        self._require_keys = require_keys

    async def api_key(self, request: Request) -> ApiKey:
        """The caller's key. A key seen in the last seconds is answered from the cache; any other is looked up
        in a worker thread (never on the event loop), unless its address has failed too often (429)."""
        if not self._require_keys:
            return ANONYMOUS
        secret = bearer_token(request)
        if secret is None:
            raise AuthenticationError(
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        found, key = self._keys.cached(secret)
        if not found:
            address = request.client.host if request.client else "unknown"
            if not self._keys.recently_valid(secret):  # a real key is never held back by its neighbours' failures
                self._throttle.check(address)
            key = await asyncio.to_thread(self._keys.lookup, secret)
            if key is None:
                self._throttle.failed(address)
        if key is None:
            raise AuthenticationError(
                f"Incorrect API key provided: {_redacted(secret)}. Ask the platform's operator for a key.",
                code="invalid_api_key",
            )
        if key.revoked_at is not None:
            raise AuthenticationError("This API key has been revoked.", code="invalid_api_key")
        return key

    async def admin(self, request: Request) -> Principal:
        """The administrator calling: the bootstrap admin token or a JWT of the operator's issuer with the admin
        role (an operator), a JWT of an organisation's own issuer (that organisation's administrator), or a
        console session (no bearer token; its CSRF token checked by the sessions). Kept in
        ``request.state.principal`` for the audit log."""
        principal = await self._admin(request)
        request.state.principal = principal
        return principal

    async def operator(self, request: Request) -> Principal:
        """The caller, who must be an operator administrator (else 403)."""
        principal = await self.admin(request)
        principal.require_operator()
        return principal

    async def _admin(self, request: Request) -> Principal:
        token = bearer_token(request)
        if token is None and self._sessions is not None:
            session = await self._sessions.principal(request)
            if session is not None:
                return session
        token = token or ""
        issuer = _unverified_issuer(token) if token.count(".") == 2 else None
        if not self._admin_token and self._oidc is None and (issuer is None or self._organisations is None):
            raise AuthenticationError(
                "The admin API is disabled: start the platform with LLMAAS_ADMIN_TOKEN or LLMAAS_OIDC_ISSUER set "
                "(organisations' administrators sign in at their own issuers).", code="admin_disabled")
        if self._admin_token and hmac.compare_digest(token.encode(), self._admin_token.encode()):
            return Principal(who="admin-token", role="operator")
        if issuer is not None:
            if self._oidc is not None and (issuer == self._oidc_issuer or self._oidc_issuer is None):
                claims = await self._verify(self._oidc, token)
                return Principal(who=who(claims), role="operator", via="jwt")
            if issuer and self._organisations is not None:
                return await self._organisations.principal(issuer, token, self._oidc_pool)
        raise AuthenticationError("Invalid admin credentials.", code="invalid_admin_token")

    async def _verify(self, verifier: OidcVerifier, token: str) -> dict[str, Any]:
        # A pool of its own: a slow issuer ties up these threads, not those of key lookups.
        return await asyncio.get_running_loop().run_in_executor(self._oidc_pool, verifier.verify_admin, token)


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims, to pick who verifies it (nothing is trusted before that)."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer.rstrip("/") if isinstance(issuer, str) else None


def who(claims: dict[str, Any]) -> str:
    return f"{claims.get('iss', '')} {claims.get('email') or claims.get('sub') or 'unknown'}"[:200]
