"""From recent probe outcomes to a component state, with the thresholds from the settings.

The states are the ones status pages use. A model with no probe yet is ``unknown``; an admin's
maintenance window makes it ``under_maintenance`` whatever its probes say.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from serve_app.settings import Settings


class State(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"
    UNKNOWN = "unknown"

    @property
    def is_incident(self) -> bool:
        """A state that opens (or keeps open) an incident."""
        return self in (State.DEGRADED_PERFORMANCE, State.PARTIAL_OUTAGE, State.MAJOR_OUTAGE)


LABELS = {State.OPERATIONAL: "Operational", State.DEGRADED_PERFORMANCE: "Degraded performance",
          State.PARTIAL_OUTAGE: "Partial outage", State.MAJOR_OUTAGE: "Major outage",
          State.UNDER_MAINTENANCE: "Under maintenance", State.UNKNOWN: "No data yet"}

# How bad a state is, for the worst-of rules (overall state, incident impact).
SEVERITY = {State.UNKNOWN: 0, State.OPERATIONAL: 1, State.UNDER_MAINTENANCE: 2, State.DEGRADED_PERFORMANCE: 3,
            State.PARTIAL_OUTAGE: 4, State.MAJOR_OUTAGE: 5}


@dataclass(frozen=True)
class Outcome:
    """What one probe found (newest first in the sequences below)."""

    ok: bool
    ttfb_ms: float | None = None
    throughput: float | None = None


@dataclass(frozen=True)
class Thresholds:
    window: int = 3
    outage_probes: int = 2
    degraded_ttfb_ms: float = 2000.0
    degraded_tokens_per_second: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(window=settings.status_window_probes, outage_probes=settings.status_outage_probes,
                   degraded_ttfb_ms=settings.status_degraded_ttfb_ms,
                   degraded_tokens_per_second=settings.status_degraded_tokens_per_second)


def model_state(recent: Sequence[Outcome], thresholds: Thresholds, *, generative: bool,
                in_maintenance: bool = False) -> State:
    """The state of one model from its recent probes, newest first.

    - ``major_outage``: the last ``outage_probes`` probes all failed;
    - ``partial_outage``: another failure within the last ``window`` probes (so a model that just came
      back stays there until its failures leave the window: recovery is confirmed, not assumed);
    - ``degraded_performance``: no failure, but the median time to first byte over the window is above
      its threshold, or (generative models) the median tokens/s is below its threshold.
    """
    if in_maintenance:
        return State.UNDER_MAINTENANCE
    window = list(recent[: thresholds.window])
    if not window:
        return State.UNKNOWN
    latest = recent[: thresholds.outage_probes]
    if len(latest) == thresholds.outage_probes and not any(outcome.ok for outcome in latest):
        return State.MAJOR_OUTAGE
    if not all(outcome.ok for outcome in window):
        return State.PARTIAL_OUTAGE
    ttfb = _median(outcome.ttfb_ms for outcome in window)
    if ttfb is not None and ttfb > thresholds.degraded_ttfb_ms:
        return State.DEGRADED_PERFORMANCE
    speed = _median(outcome.throughput for outcome in window)
    if generative and speed is not None and speed < thresholds.degraded_tokens_per_second:
        return State.DEGRADED_PERFORMANCE
    return State.OPERATIONAL


def overall_state(states: Iterable[State]) -> State:
    """The platform's state: the worst of its models', except that a major outage of some models (not
    all) is a partial outage of the platform."""
    known = [state for state in states if state is not State.UNKNOWN]
    if not known:
        return State.UNKNOWN
    worst = max(known, key=SEVERITY.__getitem__)
    if worst is State.MAJOR_OUTAGE and any(state is not State.MAJOR_OUTAGE for state in known):
        return State.PARTIAL_OUTAGE
    return worst


def worst(states: Iterable[State]) -> State:
    return max(states, key=SEVERITY.__getitem__, default=State.UNKNOWN)


def _median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None
