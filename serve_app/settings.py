"""Platform settings: the only module that reads the environment.

Every setting is an ``LLMAAS_*`` environment variable, parsed once (in the Serve driver) into a frozen
:class:`Settings` that is passed to the deployments by ``.bind(...)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV_PREFIX = "LLMAAS_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_dir: Path = Field(
        default=Path(".data"), description="Where the key database (and later the ledger) lives."
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL for keys, ledger and incidents (default: SQLite in the data directory).",
    )
    models_dir: Path = Field(
        default=Path(".models"), description="Where locally prepared model folders live."
    )
    catalog: Path = Field(default=Path("catalog.cpu.yaml"), description="The catalog file to serve.")
    http_host: str = Field(
        default="127.0.0.1", description="The address Serve's HTTP proxy listens on (0.0.0.0: every interface)."
    )
    http_port: int = Field(default=8000, ge=1, le=65535, description="The port Serve's HTTP proxy listens on.")
    admin_token: str | None = Field(
        default=None, description="Bearer token for the admin API on a fresh install (bootstrap)."
    )
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="Largest request body.")
    max_audio_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="Largest audio file in /v1/audio uploads (OpenAI's 25 MB)."
    )
    max_image_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest image in a chat message.")
    max_n: int = Field(default=8, ge=1, le=128, description="Most choices (`n`) in one chat or completion request.")
    max_prompt_chars: int = Field(
        default=1_000_000, gt=0,
        description="Most characters of text (or token ids) in one chat or completion request's prompt (400 beyond), "
                    "checked before any engine tokenizes it.",
    )
    body_timeout_seconds: float = Field(
        default=120.0, gt=0, description="A request body must arrive whole within this time of its first byte (408).")
    max_messages: int = Field(
        default=2048, gt=0, description="Most messages in one chat request (400 beyond, before any other work).")
    max_content_parts: int = Field(
        default=512, gt=0, description="Most content parts (text and images) in one chat message (400 beyond).")
    max_image_pixels: int = Field(
        default=40_000_000, gt=0,
        description="Most pixels (width x height, read from the image's header) of an image in a chat message.")
    request_timeout_seconds: float = Field(
        default=600.0, gt=0, description="A chat or completion that is not streamed and takes longer is stopped (504)."
    )
    guard_threshold: float = Field(
        default=0.5, gt=0, le=1, description="Prompt-guard score from which a request is a prompt injection."
    )
    guard_max_chars: int = Field(default=24_000, gt=0, description="Characters of one message the prompt guard reads.")
    guard_max_total_chars: int = Field(
        default=64_000, gt=0, description="Characters of one conversation the prompt guard reads (newest first)."
    )
    image_url_allowed_hosts: frozenset[str] = Field(
        default=frozenset(), description="Hosts whose http(s) image URLs the ingress fetches (comma-separated)."
    )
    image_url_allow_private: bool = Field(
        default=False, description="Fetch allowed hosts' images even from loopback, private or link-local addresses.")
    key_cache_seconds: float = Field(
        default=2.0, ge=0, description="How long an ingress replica trusts a looked-up API key."
    )
    ingress_replicas: int = Field(default=1, ge=1, description="How many ingress replicas serve HTTP.")
    tiers: Path = Field(default=Path("tiers.yaml"), description="The service tiers file (limits per tier).")
    governance: bool = Field(
        default=True,
        description="API keys, quotas and metering. `false` serves without any of them: for benchmarks only.",
    )
    admission_lease_seconds: float = Field(
        default=2.0, ge=0,
        description="How long an ingress replica may admit a key's requests on its own, from a share of the key's "
                    "remaining limits granted by the metering actor (0: the actor decides every request).",
    )
    metering_retry_seconds: float = Field(
        default=0.2, gt=0, description="First delay before an ingress replica resends usage the meter did not take."
    )
    metering_interval_seconds: float = Field(
        default=0.1, ge=0,
        description="Under load, an ingress replica sends usage to the metering actor at most once per interval, "
                    "records finished meanwhile together (0: one call per finished request).",
    )
    metering_shards: int = Field(
        default=1, ge=1, le=256,
        description="Metering actors, each holding the limits and usage of a share of the keys (by a digest of the "
                    "key id). One sustains a few thousand usage records per second (benchmarks/README.md, "
                    "`benchmarks.meter_scale`); more spread a large cluster's metering over processes and nodes.",
    )
    metering_timeout_seconds: float = Field(
        default=10.0, gt=0,
        description="A call to the metering actor that takes longer fails: an admission is then a 503 "
                    "(metering_unavailable), a usage report is sent again later.",
    )
    oidc_issuer: str | None = Field(
        default=None, description="OIDC issuer whose JWTs are accepted on the admin API (besides the admin token)."
    )
    oidc_audience: str | None = Field(
        default=None, description="The audience (`aud`) admin JWTs must carry (required with LLMAAS_OIDC_ISSUER).")
    oidc_jwks_refresh_seconds: float = Field(
        default=300.0, gt=0,
        description="How long the issuer's keys are kept: a key the issuer removes stops verifying within it.")
    oidc_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS URL (default: discovered from its openid-configuration)."
    )
    oidc_admin_claim: str = Field(
        default="roles", description="The claim (dotted path, e.g. `realm_access.roles`) that holds the role."
    )
    oidc_admin_value: str = Field(default="llmaas-admin", description="The role value that grants admin access.")
    oidc_require_mfa: bool = Field(
        default=False, description="Require the JWT's `amr` to show multi-factor authentication."
    )
    console_client_id: str | None = Field(
        default=None, description="The console's client id at LLMAAS_OIDC_ISSUER, for operators' sign-in at "
                                  "/console (organisations' administrators sign in with their organisation's own).")
    console_client_secret: str | None = Field(
        default=None, description="Its secret, for a confidential client (a public client uses PKCE alone).")
    health_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a model's background health check may take before it counts as down."
    )
    health_refresh_seconds: float = Field(
        default=5.0, gt=0,
        description="How often each ingress replica checks every model in the background; /health answers at once "
                    "from the latest results.",
    )
    engine_stall_seconds: float = Field(
        default=60.0, gt=0,
        description="A model replica with requests in flight and no engine output for this long fails its health "
                    "check (a hung engine): Serve stops routing to it and replaces it.",
    )
    engine_health_check_period_seconds: float = Field(
        default=10.0, gt=0, description="How often Serve checks each model replica (3 failures in a row replace it)."
    )
    engine_health_check_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long a model replica's health check may take before it counts as failed."
    )
    status_prober: bool = Field(
        default=True, description="Run the status prober (false: /status shows no data; for benchmarks)."
    )
    status_probe_url: str | None = Field(
        default=None,
        description="The platform's URL, called by the status prober as a user (default: its own address, "
                    "from http_host and http_port).",
    )
    status_probe_seconds: float = Field(
        default=60.0, gt=0, description="How often the status prober probes every model (jittered by 10%)."
    )
    status_probe_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A probe that takes longer than this fails."
    )
    status_window_probes: int = Field(
        default=3, ge=1, description="Recent probes that decide a model's state: a failure among them is an outage."
    )
    status_outage_probes: int = Field(
        default=2, ge=1, description="Consecutive failed probes that make a major outage (fewer: partial outage)."
    )
    status_degraded_ttfb_ms: float = Field(
        default=2000.0, gt=0,
        description="Median time to first byte over the recent probes that makes a model degraded."
    )
    status_degraded_tokens_per_second: float = Field(
        default=5.0, ge=0, description="Median tokens/s below which a generative model is degraded (0: never)."
    )
    status_retention_days: int = Field(
        default=90, ge=1, description="How long probe results, incidents and maintenance windows are kept."
    )
    budget_alert_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often each ingress replica checks organisations' budget alerts.")
    webhook_secret: str | None = Field(
        default=None, description="Key of the HMAC-SHA256 signature (`x-llmaas-signature`) of budget alert webhooks "
                                  "(unset: they are not signed).")
    webhook_allow_private: bool = Field(
        default=False, description="Deliver budget alert webhooks even to loopback, private or link-local addresses.")
    batch_secret: str | None = Field(
        default=None,
        description="The operator's secret under which a running batch's file key is kept, so that the batch goes on "
                    "after a restart (default: LLMAAS_ADMIN_TOKEN; with neither, batches are refused).")
    batch_max_file_bytes: int = Field(default=100 * 1024 * 1024, gt=0, description="Largest batch input file.")
    batch_max_requests: int = Field(default=50_000, gt=0, description="Most requests in one batch input file.")
    batch_max_files: int = Field(
        default=20, ge=1,
        description="Batch input files an API key may hold at once, across the cluster (429 beyond): an input file "
                    "is deleted when its batch ends, or at its expiry.")
    batch_max_in_flight: int = Field(
        default=4, ge=1, description="Batches an API key may have in flight at once, across the cluster (429 beyond).")
    batch_retention_hours: float = Field(
        default=168.0, gt=0, le=168,
        description="Batch files left undownloaded are deleted this long after their creation (at most 7 days).")
    batch_concurrency: int = Field(
        default=2, ge=1,
        description="Requests of a batch an ingress replica runs at once: batches fill the capacity interactive "
                    "traffic leaves, and never hold more of it than this.")
    tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate (chain) that every HTTP port Serve opens presents; with tls_key, TLS 1.3 only.",
    )
    tls_key: Path | None = Field(default=None, description="The PEM private key of tls_cert.")

    @field_validator("image_url_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(host.strip().lower() for host in value.split(",") if host.strip())
        return value

    @model_validator(mode="after")
    def _oidc_audience(self) -> Settings:
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("LLMAAS_OIDC_AUDIENCE must be set with LLMAAS_OIDC_ISSUER: without an audience, a token "
                             "the issuer made for any other application would be accepted")
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("LLMAAS_TLS_CERT and LLMAAS_TLS_KEY must be set together")
        return self

    @property
    def own_url(self) -> str:
        """Where this machine reaches the platform: HTTPS when TLS is on, loopback when it listens everywhere."""
        scheme = "https" if self.tls_cert is not None else "http"
        host = "127.0.0.1" if self.http_host in {"0.0.0.0", "::", ""} else self.http_host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.http_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``LLMAAS_<FIELD>`` variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if env.get(ENV_PREFIX + name.upper())
        }
        return cls.model_validate(values)

    def resolved(self, base: Path | None = None) -> Settings:
        """The same settings with every path made absolute (replicas do not share the driver's cwd)."""
        root = base or Path.cwd()
        return self.model_copy(
            update={
                name: (root / getattr(self, name)).resolve()
                for name in ("data_dir", "models_dir", "catalog", "tiers", "tls_cert", "tls_key")
                if getattr(self, name) is not None
            }
        )
