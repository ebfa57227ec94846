"""What the ingress reports to the metering actor: one record per request, with the engine's own counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from serve_app.catalog.schema import Pricing
from serve_app.governance.quotas import Limit, Measure

Outcome = Literal["completed", "cancelled", "error", "refused"]  # refused: by a check after admission


@dataclass(frozen=True)
class UsageRecord:
    request_id: str
    key_id: str
    model: str
    endpoint: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0
    cost_usd: float = 0.0
    outcome: Outcome = "completed"
    ended_at: float = 0.0
    organisation_id: str | None = None  # the key's organisation, whose limits it also counts against

    @property
    def day(self) -> str:
        return dt.datetime.fromtimestamp(self.ended_at, dt.UTC).date().isoformat()

    def amounts(self) -> dict[Measure, float]:
        return {Measure.REQUESTS: 1, Measure.TOKENS: self.prompt_tokens + self.completion_tokens,
                Measure.OUTPUT_TOKENS: self.completion_tokens, Measure.COST: self.cost_usd,
                Measure.AUDIO_SECONDS: self.audio_seconds, Measure.STREAMS: 0.0}  # a finished stream is closed


def cost(pricing: Pricing, prompt_tokens: int, completion_tokens: int, audio_seconds: float) -> float:
    """The price of one request in the operator's currency, from the catalog's per-model prices."""
    return (prompt_tokens * pricing.input_per_million / 1e6 + completion_tokens * pricing.output_per_million / 1e6
            + audio_seconds / 60 * pricing.audio_per_minute)


@dataclass(frozen=True)
class AdmissionRequest:
    """Asks the metering actor to let a request in: its key's limits and what the request may consume."""

    key_id: str
    request_id: str
    limits: tuple[Limit, ...]  # the key's, and its organisation's contract (``scope="organisation"``)
    reservation: dict[Measure, float] = field(default_factory=dict)
    lease_seconds: float = 0.0  # > 0: also asks for a lease (see serve_app/governance/leases.py)
    organisation_id: str | None = None


@dataclass(frozen=True)
class LimitStatus:
    limit: Limit
    used: float  # settled use in the window, plus what requests in flight have reserved
    resets_at: float

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit.maximum - self.used)


@dataclass(frozen=True)
class Lease:
    """A share of a key's remaining limits that one ingress replica may admit on its own until
    ``expires_at``; the metering actor holds it as a reservation until the replica releases it.
    ``amounts``: how much of each limited measure (requests included) it covers; a measure the key does
    not limit is absent. ``statuses``: the key's limits when it was granted (for the rate-limit headers)."""

    lease_id: str
    key_id: str
    amounts: dict[Measure, float]
    statuses: tuple[LimitStatus, ...]
    expires_at: float
    organisation_id: str | None = None


@dataclass(frozen=True)
class AdmissionResult:
    admitted: bool
    statuses: tuple[LimitStatus, ...]
    refused_by: LimitStatus | None = None
    now: float = 0.0
    lease: Lease | None = None
    # Admitted by the metering actor itself, which holds the request's reservation until its record arrives
    # (not from a replica's lease).
    held_at_meter: bool = False
