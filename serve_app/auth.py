"""Who is calling: API keys for ``/v1``; the bootstrap admin token or an OIDC JWT for ``/admin``."""

from __future__ import annotations

import asyncio
import hmac
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request

from serve_app.auth_throttle import FailedAuthThrottle
from serve_app.errors import AuthenticationError
from serve_app.keys import ApiKey, KeyCache
from serve_app.oidc import OidcVerifier

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
                 require_keys: bool = True, throttle: FailedAuthThrottle | None = None) -> None:
        self._keys = keys
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

    async def admin(self, request: Request) -> str:
        """Admits the bootstrap admin token, or a JWT from the configured OIDC issuer with the admin role; who it
        is (``admin-token``, or the JWT's ``iss`` and ``email`` or ``sub``) is also kept in ``request.state.admin``
        for the audit log."""
        if not self._admin_token and self._oidc is None:
            raise AuthenticationError(
                "The admin API is disabled: start the platform with LLMAAS_ADMIN_TOKEN or LLMAAS_OIDC_ISSUER set.",
                code="admin_disabled",
            )
        token = bearer_token(request) or ""
        if self._admin_token and hmac.compare_digest(token.encode(), self._admin_token.encode()):
            request.state.admin = "admin-token"
            return "admin-token"
        if self._oidc is not None and token.count(".") == 2:
            # A pool of its own: a slow issuer ties up these threads, not those of key lookups.
            claims = await asyncio.get_running_loop().run_in_executor(self._oidc_pool, self._oidc.verify_admin, token)
            who = f"{claims.get('iss', '')} {claims.get('email') or claims.get('sub') or 'unknown'}"[:200]
            request.state.admin = who
            return who
        raise AuthenticationError("Invalid admin credentials.", code="invalid_admin_token")
