"""What an organisation is: its contract (organisation-wide limits, on top of each key's own), how its
administrators sign in (its own OpenID Connect issuer, MFA), and its budget alerts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from serve_app.governance.quotas import Quotas
from serve_app.keys import DEFAULT_ORGANISATION

MAX_URL_CHARS = 2000  # below pydantic's 2083 for a URL, which a normalised URL read back must still meet

__all__ = ["DEFAULT_ORGANISATION", "BudgetAlerts", "CreateOrganisation", "Organisation", "OrganisationFields",
           "SingleSignOn"]


class SingleSignOn(BaseModel):
    """The organisation's own OpenID Connect issuer for its administrators (the console and the admin API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, max_length=500, description="The issuer URL (its discovery document is at "
                        "`<issuer>/.well-known/openid-configuration`).")
    client_id: str = Field(min_length=1, max_length=200, description="The console's client id at that issuer; "
                           "also the audience of the JWTs its administrators present to the admin API.")
    client_secret: str | None = Field(default=None, max_length=500, description="For a confidential client; "
                                      "a public client (PKCE only) has none. Never shown again.")
    allowed_email_domains: list[str] = Field(default_factory=list, description="If set, a signed-in user's "
                                             "verified `email` must be in one of these domains.")
    group_claim: str | None = Field(default=None, max_length=100, description="If set with `group_value`, the "
                                    "claim (a dotted path) that must hold `group_value` (e.g. `groups`).")
    group_value: str | None = Field(default=None, max_length=200)
    require_mfa: bool = Field(default=False, description="Administrators must have signed in with "
                              "multi-factor authentication (`amr` holds `mfa` or two methods, or `acr` says so).")

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("the issuer must be an https:// URL")
        return value.rstrip("/")

    @field_validator("allowed_email_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return sorted({domain.strip().lower().lstrip("@") for domain in value if domain.strip()})

    def public(self) -> dict[str, object]:
        return {**self.model_dump(mode="json", exclude={"client_secret"}),
                "client_secret_set": self.client_secret is not None}


class BudgetAlerts(BaseModel):
    """Alerts when the organisation's spend this month crosses a share of its monthly budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds_percent: list[int] = Field(default_factory=lambda: [50, 80, 100], max_length=10,
                                          description="Shares of the monthly budget (1 to 1000 percent).")
    webhook_url: HttpUrl | None = Field(default=None, description="Where each alert is POSTed as JSON.")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_stays_readable(cls, value: HttpUrl | None) -> HttpUrl | None:
        """A URL is kept as normalised (percent-encoded, punycode), which may be longer than what was sent: it must
        still be a valid URL when read back, or the organisation could no longer be read."""
        if value is not None and len(str(value)) > MAX_URL_CHARS:
            raise ValueError(f"the webhook URL is longer than {MAX_URL_CHARS} characters once normalised")
        return value

    @field_validator("thresholds_percent")
    @classmethod
    def _sorted_thresholds(cls, value: list[int]) -> list[int]:
        if any(not 1 <= item <= 1000 for item in value):
            raise ValueError("each threshold is a percentage from 1 to 1000")
        return sorted(set(value))


class OrganisationFields(BaseModel):
    """An organisation as the admin API takes it (every field optional on update)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    tier: str | None = Field(default=None, description="The tier its keys get unless they say otherwise.")
    contract: Quotas | None = Field(default=None, description="Organisation-wide limits over all its keys "
                                    "together (`monthly_spend_cap_usd` is its monthly budget); a key's own quotas "
                                    "must stay within them.")
    sso: SingleSignOn | None = None
    alerts: BudgetAlerts | None = None


class CreateOrganisation(OrganisationFields):
    name: str = Field(min_length=1, max_length=200)
    id: str | None = Field(default=None, pattern=r"^org_[a-z0-9_-]{1,40}$", description="Chosen id (default: "
                           "a random one); also the organisation's slug at the console's sign-in.")


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    tier: str | None = None
    contract: Quotas = Field(default_factory=Quotas)
    sso: SingleSignOn | None = None
    alerts: BudgetAlerts = Field(default_factory=BudgetAlerts)
    created_at: int = 0

    def public(self) -> dict[str, object]:
        return {"id": self.id, "object": "organisation", "name": self.name, "tier": self.tier,
                "contract": self.contract.model_dump(mode="json", exclude_unset=True),
                "sso": self.sso.public() if self.sso else None,
                "alerts": self.alerts.model_dump(mode="json"), "created_at": self.created_at}
