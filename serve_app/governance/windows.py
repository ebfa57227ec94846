"""Calendar windows (UTC) and the per-key counters that live in them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from serve_app.governance.quotas import Measure, Window


def window_bounds(window: Window, now: float) -> tuple[float, float]:
    """The start and end (epoch seconds) of the calendar window that contains ``now``."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    if window is Window.MINUTE:
        start = moment.replace(second=0, microsecond=0)
        end = start + dt.timedelta(minutes=1)
    elif window is Window.HOUR:
        start = moment.replace(minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(hours=1)
    elif window is Window.DAY:
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
    else:
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + dt.timedelta(days=32)).replace(day=1)
    return start.timestamp(), end.timestamp()


class WindowCounters:
    """How much each key used, per measure, in the current window of each kind (older windows drop)."""

    def __init__(self) -> None:
        self._starts: dict[Window, float] = {}
        self._values: dict[Window, defaultdict[tuple[str, Measure], float]] = {}

    def _current(self, window: Window, now: float) -> defaultdict[tuple[str, Measure], float]:
        start, _ = window_bounds(window, now)
        if self._starts.get(window) != start:
            self._starts[window] = start
            self._values[window] = defaultdict(float)
        return self._values[window]

    def used(self, key_id: str, measure: Measure, window: Window, now: float) -> float:
        return self._current(window, now).get((key_id, measure), 0.0)

    def add(self, key_id: str, amounts: dict[Measure, float], now: float) -> None:
        for window in Window:
            values = self._current(window, now)
            for measure, amount in amounts.items():
                if amount:
                    values[key_id, measure] += amount

    def load(self, window: Window, now: float, totals: dict[tuple[str, Measure], float]) -> None:
        """Replaces a window's counts (a restart rebuilds them from the ledger)."""
        values = self._current(window, now)
        values.clear()
        values.update(totals)
