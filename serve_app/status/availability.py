"""Monthly availability per model, against the platform's commitment (SLO): 99% of each calendar month (UTC).

Availability is the share of successful probes among those that count (``serve_app.status.history``): probes
during an admin's maintenance window, or before a model first answered, do not. A slow answer is available (it
is ``degraded_performance`` on the page, not down). The same figure feeds the Prometheus SLO alerts
(deploy/observability/rules.yml), through ``llmaas_probes_total``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Final

SLO_AVAILABILITY: Final = 0.99
MONTHS_SHOWN: Final = 3  # this month and the two before it
_EPOCH = dt.date(1970, 1, 1)

DayCount = tuple[int, int, int]  # (UTC day since the epoch, counted probes, successful ones)


def first_day_shown(now: float) -> int:
    """The first UTC day (since the epoch) of the oldest month shown."""
    month = _month_start(_date(now))
    for _ in range(MONTHS_SHOWN - 1):
        month = _month_start(month - dt.timedelta(days=1))
    return (month - _EPOCH).days


def monthly(days: Iterable[DayCount], now: float, kept_since: float) -> list[dict[str, Any]]:
    """The shown months, oldest first: availability (None without a counted probe), the probes it rests on, whether
    it met the SLO, and whether the month is complete (it has ended, and the retention still holds all of it)."""
    totals: dict[dt.date, list[int]] = {}
    for day, probes, ok in days:
        month = totals.setdefault(_month_start(_EPOCH + dt.timedelta(days=day)), [0, 0])
        month[0] += probes
        month[1] += ok
    this_month = _month_start(_date(now))
    months = []
    start = _EPOCH + dt.timedelta(days=first_day_shown(now))
    while start <= this_month:
        probes, ok = totals.get(start, [0, 0])
        availability = ok / probes if probes else None
        months.append({"month": start.strftime("%Y-%m"), "availability": availability, "probes": probes,
                       "met": None if availability is None else availability >= SLO_AVAILABILITY,
                       "complete": start < this_month and start >= _date(kept_since)})
        start = _month_start(start + dt.timedelta(days=32))
    return months


def _date(moment: float) -> dt.date:
    return dt.datetime.fromtimestamp(moment, dt.UTC).date()


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)
