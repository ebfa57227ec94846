"""Admin access by OIDC: a JWT from the configured issuer, checked against the issuer's published keys.

PyJWT's ``PyJWKClient`` fetches the JWKS (found through the issuer's ``/.well-known/openid-configuration``
unless ``LLMAAS_OIDC_JWKS_URL`` names it) and keeps it ``LLMAAS_OIDC_JWKS_REFRESH_SECONDS``: a key the issuer
removes stops verifying within that time. A token naming a key not in the set fetches it again, at most once
per ``FORCED_REFRESH_SECONDS`` (random key ids cost the issuer nothing more); an issuer that cannot be reached
is not asked again for ``UNREACHABLE_PAUSE_SECONDS`` (tokens are refused at once meanwhile). A token must be
signed with an asymmetric algorithm, be unexpired, come from the issuer, name the audience (required), carry
the admin role in the configured claim and, if required, show multi-factor authentication in ``amr`` (RFC 8176).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import jwt

from serve_app.errors import AuthenticationError, PermissionDeniedError

FORCED_REFRESH_SECONDS = 30.0
UNREACHABLE_PAUSE_SECONDS = 30.0
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
LEEWAY_SECONDS = 30
DISCOVERY_TIMEOUT_SECONDS = 5
MFA_ACR_VALUES = frozenset({"http://schemas.openid.net/pape/policies/2007/06/multi-factor",
                            "http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical",
                            "urn:mace:incommon:iap:silver", "phr", "phrh"})


class IssuerUnreachableError(Exception):
    """The issuer's discovery document or keys could not be fetched (recently)."""


class OidcVerifier:
    def __init__(self, issuer: str, audience: str, jwks_url: str | None, admin_claim: str | None,
                 admin_value: str | None, require_mfa: bool, jwks_refresh_seconds: float = 300.0,
                 email_domains: Sequence[str] = ()) -> None:
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._admin_claim = admin_claim  # None: any user of the issuer (an organisation that names no group)
        self._admin_value = admin_value
        self._require_mfa = require_mfa
        self._email_domains = tuple(email_domains)
        self._refresh_seconds = jwks_refresh_seconds
        self._client: jwt.PyJWKClient | None = None
        self._forced_at = float("-inf")  # monotonic time of the last refetch for an unknown key id
        self._unreachable_until = 0.0
        self._lock = threading.Lock()  # one fetch at a time: concurrent tokens wait for it rather than repeat it

    def _signing_key(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        with self._lock:
            if time.monotonic() < self._unreachable_until:
                raise IssuerUnreachableError
            try:
                client = self._jwks_client()
                found = _matching(client.get_signing_keys(), kid)
                if found is None and time.monotonic() - self._forced_at >= min(FORCED_REFRESH_SECONDS,
                                                                               self._refresh_seconds):
                    self._forced_at = time.monotonic()
                    found = _matching(client.get_signing_keys(refresh=True), kid)
            except (OSError, jwt.PyJWKClientConnectionError, KeyError, ValueError) as exc:
                self._unreachable_until = time.monotonic() + UNREACHABLE_PAUSE_SECONDS
                raise IssuerUnreachableError from exc
        if found is None:
            raise jwt.PyJWKClientError(f"no key of the issuer has the id {kid!r}")
        return found

    def _jwks_client(self) -> jwt.PyJWKClient:
        if self._client is None:
            url = self._jwks_url or _discover_jwks_url(self._issuer)
            # The set is kept `refresh_seconds`; no key is kept beyond it (cache_keys would keep them for ever).
            self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=True, lifespan=self._refresh_seconds,
                                           timeout=DISCOVERY_TIMEOUT_SECONDS)
        return self._client

    def verify_admin(self, token: str) -> dict[str, Any]:
        """The token's claims if it grants admin access; 401 if it is not a valid token, 403 if it is one
        without the admin role or without MFA. Blocking (it may fetch the JWKS): call it in a thread."""
        try:
            signing_key = self._signing_key(token)
            claims: dict[str, Any] = jwt.decode(
                token, signing_key.key, algorithms=ALGORITHMS, issuer=self._issuer, audience=self._audience,
                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The admin token has expired.", code="token_expired") from None
        except IssuerUnreachableError:
            raise AuthenticationError("Invalid admin token: the issuer's keys could not be fetched; retry in a "
                                      "minute.", code="invalid_token") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"Invalid admin token: {_reason(exc)}.", code="invalid_token") from None
        check_admin_claims(claims, self._admin_claim, self._admin_value, self._require_mfa, self._email_domains)
        return claims


def check_admin_claims(claims: dict[str, Any], role_claim: str | None, role_value: str | None, require_mfa: bool,
                       email_domains: Sequence[str] = ()) -> None:
    """403 unless verified claims make an administrator: the role (``role_value`` in the claim at the dotted path
    ``role_claim``, when one is named), an e-mail address in one of ``email_domains`` (when named; not one the
    issuer says is unverified), and multi-factor authentication when required. The admin API's JWTs and the
    console's ID tokens are held to the same rules."""
    if role_claim and role_value and not _has_role(_claim(claims, role_claim), role_value):
        raise PermissionDeniedError(
            f"The token does not grant the admin role (`{role_value}` in claim `{role_claim}`).",
            code="admin_role_required")
    if email_domains:
        email = claims.get("email")
        domain = email.rpartition("@")[2].lower() if isinstance(email, str) and "@" in email else None
        if domain not in email_domains or claims.get("email_verified") is False:
            raise PermissionDeniedError("This account's e-mail address is not in a domain allowed to administer "
                                        "this organisation.", code="email_domain_not_allowed")
    if require_mfa and not shows_mfa(claims):
        raise PermissionDeniedError("Admin access requires multi-factor authentication (the token's `amr` or "
                                    "`acr`): sign in again with a second factor.", code="mfa_required")


def shows_mfa(claims: dict[str, Any]) -> bool:
    """RFC 8176 ``amr``: ``mfa`` itself, or two different methods (e.g. ``pwd`` and ``otp``); or an ``acr`` that
    names multi-factor authentication."""
    amr = claims.get("amr")
    # Methods as strings: a list holding objects (not hashable) is not a 500.
    if isinstance(amr, list) and ("mfa" in amr or len({str(method) for method in amr}) >= 2):
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and ("mfa" in acr.lower() or acr in MFA_ACR_VALUES)


def _matching(keys: list[jwt.PyJWK], kid: object) -> jwt.PyJWK | None:
    return next((key for key in keys if key.key_id == kid), None)


def _discover_jwks_url(issuer: str) -> str:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=DISCOVERY_TIMEOUT_SECONDS) as response:
        return str(json.load(response)["jwks_uri"])


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _has_role(value: Any, role: str) -> bool:
    if isinstance(value, str):
        return role in value.split()  # a single role, or an OAuth scope string
    if isinstance(value, list):
        return role in value
    return False


def _reason(exc: Exception) -> str:
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.InvalidSignatureError | jwt.PyJWKClientError):
        return "signature not verified by the issuer's keys"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim `{exc.claim}`"
    return "malformed or not signed as required"
