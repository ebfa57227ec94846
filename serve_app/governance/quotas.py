"""Tiers and quotas: what a key may consume, read from the tiers file and a key's own overrides.

Every limit is optional (``null`` means unlimited). Windows are calendar windows in UTC: a per-minute
limit resets at the top of each minute, a per-day limit at midnight UTC, a monthly one on the 1st.
Besides windowed limits, a tier sets per-request bounds (``max_tokens_per_request``), how many streams a
key may hold open at once (``max_concurrent_streams``) and what the prompt guard does (``guard``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scope = Literal["key", "organisation"]


class Window(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


class Measure(StrEnum):
    """What a limit counts."""

    REQUESTS = "requests"
    TOKENS = "tokens"  # prompt + completion
    OUTPUT_TOKENS = "output_tokens"
    COST = "cost_usd"
    AUDIO_SECONDS = "audio_seconds"
    # Streams open now: never in a window's counters, only held by streamed requests in flight (their
    # reservations in the metering actor), so the one actor bounds them across ingress replicas.
    STREAMS = "streams"


class GuardMode(StrEnum):
    """What the prompt guard does with a request it finds to be a prompt injection."""

    BLOCK = "block"  # refuse it: 400 prompt_injection_detected, the engine never sees it
    FLAG = "flag"  # serve it, with the x-llmaas-guardrail header and a counter
    OFF = "off"  # do not inspect


class Quotas(BaseModel):
    """Limits on one key. As overrides, only the fields given replace the tier's (``null`` = unlimited)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(default=None, ge=0)
    tokens_per_minute: int | None = Field(default=None, ge=0)
    tokens_per_day: int | None = Field(default=None, ge=0)
    output_tokens_per_hour: int | None = Field(default=None, ge=0)
    output_tokens_per_day: int | None = Field(default=None, ge=0)
    monthly_spend_cap_usd: float | None = Field(default=None, ge=0)
    audio_minutes_per_month: float | None = Field(default=None, ge=0)
    allowed_models: frozenset[str] | None = Field(
        default=None, description="The model ids the key may call; null for every model of the catalog."
    )
    max_tokens_per_request: int | None = Field(
        default=None, ge=1, description="Most output tokens one choice may ask for (`max_tokens`); a request that "
        "asks for more is refused, one that does not say is capped to it.")
    max_concurrent_streams: int | None = Field(
        default=None, ge=0, description="Streamed requests the key may have open at once, across the cluster.")
    guard: GuardMode = Field(
        default=GuardMode.BLOCK, description="The prompt-injection guard: `block`, `flag` or `off`.")

    @field_validator("guard", mode="before")
    @classmethod
    def _guard_from_json(cls, value: Any) -> Any:
        """A mode's name, as JSON and YAML give it, taken even where validation is strict."""
        return GuardMode(value) if isinstance(value, str) and value in {mode.value for mode in GuardMode} else value

    @field_validator("allowed_models", mode="before")
    @classmethod
    def _models_from_json(cls, value: Any) -> Any:
        """A JSON array, taken as the set it stands for even where validation is strict."""
        return frozenset(value) if isinstance(value, list) and all(isinstance(item, str) for item in value) else value

    def overridden_by(self, overrides: Quotas) -> Quotas:
        return self.model_copy(update=overrides.model_dump(exclude_unset=True))

    def limits(self, scope: Scope = "key") -> list[Limit]:
        """The numeric limits that are set, each with what it counts and over which window (``scope``: a key's
        own, or an organisation's contract over all its keys)."""
        found = []
        for field, (measure, window, scale) in LIMIT_FIELDS.items():
            value = getattr(self, field)
            if value is not None:
                found.append(Limit(name=field, measure=measure, window=window, maximum=float(value) * scale,
                                   scope=scope))
        return found

    def allows_model(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models

    def stream_limit(self, scope: Scope = "key") -> Limit | None:
        """The bound on open streams, for the admission of a streamed request (the window is not used)."""
        if self.max_concurrent_streams is None:
            return None
        return Limit(name="max_concurrent_streams", measure=Measure.STREAMS, window=Window.MINUTE,
                     maximum=float(self.max_concurrent_streams), scope=scope)


class Limit(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    measure: Measure
    window: Window
    maximum: float
    scope: Scope = "key"  # whose use it counts: the key's, or its organisation's


LIMIT_FIELDS: dict[str, tuple[Measure, Window, float]] = {
    "requests_per_minute": (Measure.REQUESTS, Window.MINUTE, 1),
    "tokens_per_minute": (Measure.TOKENS, Window.MINUTE, 1),
    "tokens_per_day": (Measure.TOKENS, Window.DAY, 1),
    "output_tokens_per_hour": (Measure.OUTPUT_TOKENS, Window.HOUR, 1),
    "output_tokens_per_day": (Measure.OUTPUT_TOKENS, Window.DAY, 1),
    "monthly_spend_cap_usd": (Measure.COST, Window.MONTH, 1),
    "audio_minutes_per_month": (Measure.AUDIO_SECONDS, Window.MONTH, 60),
}


class Tier(Quotas):
    description: str = ""
    upfront_credit_usd: float = Field(default=0, ge=0, description="Credit granted once to each key of the tier.")


class TierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_tier: str
    tiers: dict[str, Tier]

    @model_validator(mode="after")
    def _default_exists(self) -> TierConfig:
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers {sorted(self.tiers)}")
        return self

    def tier(self, name: str) -> Tier:
        """The named tier; a key whose tier was removed from the file falls back to the default tier."""
        return self.tiers.get(name) or self.tiers[self.default_tier]

    def effective_quotas(self, tier: str, overrides: Quotas) -> Quotas:
        """A key's limits: its tier's, with the key's own overrides (a custom contract) on top."""
        base = self.tier(tier)
        return Quotas.model_validate(base.model_dump(include=set(Quotas.model_fields))).overridden_by(overrides)


def load_tiers(path: Path) -> TierConfig:
    with path.open() as handle:
        data: Any = yaml.safe_load(handle)
    return TierConfig.model_validate(data)
