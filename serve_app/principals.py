"""Who administers what: the two roles of the admin API and the console.

- ``operator``: the platform's operator (the bootstrap ``LLMAAS_ADMIN_TOKEN``, a JWT of the operator's OIDC
  issuer with the admin role, or an operator's console session): every organisation, tiers, incidents and
  maintenance, the catalog.
- ``organisation_admin``: an administrator of one customer organisation, signed in through that organisation's
  own OIDC issuer (a JWT as bearer token, or a console session): only that organisation's keys, quotas within
  its contract, usage, budget alerts and audit log.

Every admin route asks :class:`Principal` what the caller may do; the console calls the same routes, so both
enforce the same roles in one place.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal, Protocol

from starlette.requests import Request

from serve_app.errors import NotFoundError, PermissionDeniedError

Role = Literal["operator", "organisation_admin"]


@dataclass(frozen=True)
class Principal:
    who: str  # for the audit log: "admin-token", or an issuer and an e-mail address or subject
    role: Role
    organisation_id: str | None = None  # an organisation admin's organisation; None for operators
    via: Literal["token", "jwt", "session"] = "token"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def require_operator(self) -> None:
        """403 unless the caller is an operator administrator."""
        if not self.is_operator:
            raise PermissionDeniedError("Only the platform's operator administrators may do this; organisation "
                                        "administrators manage their own organisation's keys, usage and alerts.",
                                        code="operator_role_required")

    def may_see(self, organisation_id: str | None) -> bool:
        return self.is_operator or (organisation_id is not None and organisation_id == self.organisation_id)

    def require_organisation(self, organisation_id: str, what: str = "organisation") -> None:
        """404 (not 403: another organisation's ids are not confirmed to exist) unless the caller administers
        ``organisation_id``."""
        if not self.may_see(organisation_id):
            raise NotFoundError(f"No {what} with this id in your organisation.", code=f"{what}_not_found")

    def scope(self, requested: str | None) -> str | None:
        """The organisation a listing covers: an operator's choice (``None``: all of them); an organisation
        admin's own organisation, whatever was asked (another one is a 404)."""
        if self.is_operator:
            return requested
        assert self.organisation_id is not None
        if requested is not None and requested != self.organisation_id:
            raise NotFoundError(f"No organisation with id `{requested}` in your reach.", param="organisation",
                                code="organisation_not_found")
        return self.organisation_id


class SessionAuthority(Protocol):
    """The console's sessions, as the admin API sees them: the principal of the request's session cookie, or
    ``None`` when it has none. A session used for a method that changes something must carry its CSRF token
    (``x-csrf-token``), else 403 ``csrf_token_invalid``; an expired or unknown session is 401."""

    async def principal(self, request: Request) -> Principal | None: ...


class OrganisationSignIn(Protocol):
    """Organisations' administrators presenting a JWT of their organisation's own issuer: the principal, or 401
    (no organisation signs in at that issuer for that audience, or the token is not valid) / 403 (it breaks the
    organisation's rules: group, e-mail domain, MFA). ``pool``: the threads that may fetch issuers' keys."""

    async def principal(self, issuer: str, token: str, pool: Executor) -> Principal: ...
