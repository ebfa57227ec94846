"""Who may sign in to the console, and as what: the requirements of an organisation's SSO or of the operator's
issuer, checked against a validated ID token's claims.

An organisation's administrators sign in at its own issuer, restricted by its allowed e-mail domains (a verified
address), a group claim and MFA as its :class:`SingleSignOn` says. The operator's administrators sign in at
``LLMAAS_OIDC_ISSUER`` and need the admin role in ``LLMAAS_OIDC_ADMIN_CLAIM``, as admin JWTs do, and MFA when
``LLMAAS_OIDC_REQUIRE_MFA`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serve_app.errors import PermissionDeniedError
from serve_app.oidc import check_admin_claims
from serve_app.organisations.model import Organisation
from serve_app.principals import Principal, Role
from serve_app.settings import Settings

# The admin API's refusal codes, as the console's refusal pages name them.
REFUSALS = {"email_domain_not_allowed": "email_domain", "mfa_required": "mfa_required"}


class Refused(Exception):
    """A sign-in the console refuses; ``reason`` names the message the person is shown."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Policy:
    issuer: str
    client_id: str
    client_secret: str | None
    role: Role
    organisation_id: str | None = None
    allowed_email_domains: tuple[str, ...] = ()
    group_claim: str | None = None
    group_value: str | None = None
    require_mfa: bool = False

    def principal(self, claims: dict[str, Any]) -> Principal:
        """The principal these claims sign in as, or :class:`Refused`: the same rules as admin JWTs
        (:func:`serve_app.oidc.check_admin_claims`), each refusal named for the page the person is shown."""
        try:
            check_admin_claims(claims, self.group_claim, self.group_value, self.require_mfa,
                               self.allowed_email_domains)
        except PermissionDeniedError as refusal:
            if refusal.code == "admin_role_required":
                raise Refused("not_in_group" if self.role == "organisation_admin" else "not_operator") from None
            raise Refused(REFUSALS[refusal.code or ""]) from None
        who = f"{self.issuer} {claims.get('email') or claims.get('sub') or 'unknown'}"[:200]
        return Principal(who=who, role=self.role, organisation_id=self.organisation_id, via="session")


def for_organisation(organisation: Organisation | None) -> Policy:
    if organisation is None:
        raise Refused("unknown_organisation", 404)
    sso = organisation.sso
    if sso is None:
        raise Refused("no_sso", 404)
    return Policy(issuer=sso.issuer, client_id=sso.client_id, client_secret=sso.client_secret,
                  role="organisation_admin", organisation_id=organisation.id,
                  allowed_email_domains=tuple(sso.allowed_email_domains), group_claim=sso.group_claim,
                  group_value=sso.group_value, require_mfa=sso.require_mfa)


def for_operator(settings: Settings) -> Policy:
    client_id = settings.console_client_id
    if not settings.oidc_issuer or not client_id:
        raise Refused("no_operator_sso", 404)
    return Policy(issuer=settings.oidc_issuer.rstrip("/"), client_id=client_id,
                  client_secret=settings.console_client_secret, role="operator",
                  group_claim=settings.oidc_admin_claim, group_value=settings.oidc_admin_value,
                  require_mfa=settings.oidc_require_mfa)
