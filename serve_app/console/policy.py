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

from serve_app.organisations.model import Organisation
from serve_app.principals import Principal, Role
from serve_app.settings import Settings

# `acr` values that say multi-factor authentication (OpenID PAPE, and the common "...mfa..." names).
MFA_ACR = frozenset({"http://schemas.openid.net/pape/policies/2007/06/multi-factor",
                     "http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical"})


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
        """The principal these claims sign in as, or :class:`Refused`."""
        if self.allowed_email_domains:
            email = claims.get("email")
            domain = email.rpartition("@")[2].lower() if isinstance(email, str) and "@" in email else None
            if domain not in self.allowed_email_domains or claims.get("email_verified") is False:
                raise Refused("email_domain")
        if self.group_claim and self.group_value and not holds(claim(claims, self.group_claim), self.group_value):
            raise Refused("not_in_group" if self.role == "organisation_admin" else "not_operator")
        if self.require_mfa and not shows_mfa(claims):
            raise Refused("mfa_required")
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


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def holds(value: Any, wanted: str) -> bool:
    """A claim holds a value: equal to it, one word of a space-separated string, or a list item."""
    if isinstance(value, str):
        return wanted in value.split()
    return isinstance(value, list) and wanted in value


def shows_mfa(claims: dict[str, Any]) -> bool:
    """RFC 8176 ``amr`` with ``mfa`` or two distinct methods, or an ``acr`` that says multi-factor."""
    amr, acr = claims.get("amr"), claims.get("acr")
    if isinstance(amr, list) and ("mfa" in amr or len({str(method) for method in amr}) >= 2):
        return True
    return isinstance(acr, str) and (acr in MFA_ACR or "mfa" in acr.lower())
