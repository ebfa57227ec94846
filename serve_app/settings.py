"""Platform settings: the only module that reads the environment.

Every setting is an ``LLMAAS_*`` environment variable, parsed once (in the Serve driver) into a frozen
:class:`Settings` that is passed to the deployments by ``.bind(...)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "LLMAAS_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_dir: Path = Field(
        default=Path(".data"), description="Where the key database (and later the ledger) lives."
    )
    models_dir: Path = Field(
        default=Path(".models"), description="Where locally prepared model folders live."
    )
    catalog: Path = Field(default=Path("catalog.cpu.yaml"), description="The catalog file to serve.")
    admin_token: str | None = Field(
        default=None, description="Bearer token for the admin API on a fresh install (bootstrap)."
    )
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="Largest request body.")
    max_audio_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="Largest audio file in /v1/audio uploads (OpenAI's 25 MB)."
    )
    max_image_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest image in a chat message.")
    image_url_allowed_hosts: frozenset[str] = Field(
        default=frozenset(), description="Hosts whose http(s) image URLs may be fetched (comma-separated)."
    )
    key_cache_seconds: float = Field(
        default=2.0, ge=0, description="How long an ingress replica trusts a looked-up API key."
    )
    health_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long /health waits for each model before calling it down."
    )

    @field_validator("image_url_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(host.strip().lower() for host in value.split(",") if host.strip())
        return value

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
                for name in ("data_dir", "models_dir", "catalog")
            }
        )
