"""Monthly availability against the 99% SLO (serve_app/status/availability.py), from counted probes per day."""

from __future__ import annotations

import datetime as dt

import pytest

from serve_app.status.availability import SLO_AVAILABILITY, monthly

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp()
EPOCH = dt.date(1970, 1, 1)


def day(year: int, month: int, date: int) -> int:
    return (dt.date(year, month, date) - EPOCH).days


def test_each_shown_month_says_whether_it_met_the_slo() -> None:
    counts = [(day(2026, 9, 3), 1000, 1000), (day(2026, 9, 20), 1000, 960),  # September: 98%
              (day(2026, 10, 1), 43_200, 43_000), (day(2026, 10, 31), 1440, 1440),  # October: 99.55%
              (day(2026, 11, 2), 100, 99)]  # November so far: 99%, exactly the SLO
    months = monthly(counts, NOW, kept_since=NOW - 75 * 86_400)
    assert [(m["month"], m["probes"], m["met"], m["complete"]) for m in months] == [
        ("2026-09", 2000, False, False),  # September's first days are older than the retention: pruned
        ("2026-10", 44_640, True, True),
        ("2026-11", 100, True, False),  # this month is not over
    ]
    assert months[0]["availability"] == pytest.approx(0.98) and months[2]["availability"] == SLO_AVAILABILITY
    assert monthly(counts, NOW, kept_since=NOW - 90 * 86_400)[0]["complete"] is True


def test_a_month_without_counted_probes_neither_met_nor_missed_the_slo() -> None:
    months = monthly([], NOW, kept_since=NOW - 365 * 86_400)
    assert [(m["month"], m["availability"], m["met"], m["complete"]) for m in months] == [
        ("2026-09", None, None, True), ("2026-10", None, None, True), ("2026-11", None, None, False)]


def test_months_roll_over_the_year() -> None:
    january = dt.datetime(2027, 1, 5, tzinfo=dt.UTC).timestamp()
    months = monthly([(day(2026, 12, 31), 10, 10)], january, kept_since=0)
    assert [(m["month"], m["probes"]) for m in months] == [("2026-11", 0), ("2026-12", 10), ("2027-01", 0)]
