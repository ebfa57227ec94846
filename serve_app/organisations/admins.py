"""Organisations' administrators on the admin API: a JWT of the organisation's own OpenID Connect issuer, for its
client id (the audience), held to its rules (group claim, e-mail domains, MFA) as the console's sign-in is."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

import jwt

from serve_app.auth import who
from serve_app.errors import AuthenticationError
from serve_app.oidc import OidcVerifier
from serve_app.organisations.model import SingleSignOn
from serve_app.organisations.store import OrganisationStore
from serve_app.principals import Principal


class OrganisationAdmins:
    """The :class:`~serve_app.principals.OrganisationSignIn` of the platform: one verifier per organisation's
    sign-in settings, each keeping its issuer's keys (a changed setting makes a new one)."""

    def __init__(self, store: OrganisationStore) -> None:
        self._store = store
        self._verifiers: dict[tuple[str, str], OidcVerifier] = {}  # (organisation id, its settings as JSON)

    async def principal(self, issuer: str, token: str, pool: Executor) -> Principal:
        candidates = await asyncio.to_thread(self._store.by_issuer, issuer)
        audiences = _audiences(token)
        for organisation in candidates:
            sso = organisation.sso
            if sso is None or sso.client_id not in audiences:
                continue
            verifier = self._verifier(organisation.id, sso)
            claims: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(
                pool, verifier.verify_admin, token)
            return Principal(who=who(claims), role="organisation_admin", organisation_id=organisation.id, via="jwt")
        raise AuthenticationError("Invalid admin token: no organisation signs in with this issuer and audience.",
                                  code="invalid_token")

    def _verifier(self, organisation_id: str, sso: SingleSignOn) -> OidcVerifier:
        settings = sso.model_dump_json()
        found = self._verifiers.get((organisation_id, settings))
        if found is None:
            for stale in [known for known in self._verifiers if known[0] == organisation_id]:
                del self._verifiers[stale]
            found = OidcVerifier(sso.issuer, sso.client_id, None, sso.group_claim, sso.group_value, sso.require_mfa,
                                 email_domains=sso.allowed_email_domains)
            self._verifiers[organisation_id, settings] = found
        return found


def _audiences(token: str) -> set[str]:
    try:
        audience = jwt.decode(token, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError:
        return set()
    return {audience} if isinstance(audience, str) else {item for item in audience or [] if isinstance(item, str)}
