"""Probe results over time, and the per-model summaries the prober writes after each round.

The prober is the only writer. It computes each model's uptimes and recent history once per round
(uptime over 90 days scans many rows) and stores them as one summary row per model, so /status is a
small read on any ingress replica, however often it is asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, case, delete, func, insert, select

from serve_app.status.availability import DayCount
from serve_app.status.probes import ProbeResult
from serve_app.status.states import Outcome, State
from serve_app.status.tables import PROBES, SUMMARIES

DAY = 86_400.0
UPTIME_WINDOWS = {"24h": DAY, "7d": 7 * DAY, "90d": 90 * DAY}


@dataclass(frozen=True)
class Probe:
    at: float
    ok: bool
    ttfb_ms: float | None
    throughput: float | None
    error: str | None
    counted: bool = True

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.ok, self.ttfb_ms, self.throughput)

    def public(self) -> dict[str, Any]:
        return {"at": self.at, "ok": self.ok, "ttfb_ms": self.ttfb_ms, "throughput": self.throughput,
                "error": self.error}


@dataclass(frozen=True)
class Summary:
    model: str
    updated_at: float
    state: State
    since: float
    data: dict[str, Any]


class ProbeHistory:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, results: Sequence[ProbeResult], uncounted: Collection[str] = ()) -> None:
        """Stores results; those of models in ``uncounted`` (maintenance, not started) do not count."""
        if not results:
            return
        rows = [{"model": r.model, "at": r.at, "day": int(r.at // DAY), "ok": r.ok, "ttfb_ms": r.ttfb_ms,
                 "throughput": r.throughput, "error": r.error, "counted": r.model not in uncounted}
                for r in results]
        with self._engine.begin() as db:
            db.execute(insert(PROBES), rows)

    def recent(self, models: Iterable[str], limit: int) -> dict[str, list[Probe]]:
        """The last ``limit`` probes of each model, newest first."""
        columns = (PROBES.c.at, PROBES.c.ok, PROBES.c.ttfb_ms, PROBES.c.throughput, PROBES.c.error,
                   PROBES.c.counted)
        with self._engine.connect() as db:
            return {model: [Probe(*row) for row in db.execute(
                select(*columns).where(PROBES.c.model == model).order_by(PROBES.c.at.desc()).limit(limit))]
                for model in models}

    def uptimes(self, now: float) -> dict[str, dict[str, float | None]]:
        """Share of successful probes per model over 24 h, 7 d and 90 d (counted probes only)."""
        ok = PROBES.c.ok
        columns = []
        for name, span in UPTIME_WINDOWS.items():
            inside = PROBES.c.at >= now - span
            columns += [func.sum(case((inside, 1), else_=0)).label(f"n{name}"),
                        func.sum(case((and_(inside, ok), 1), else_=0)).label(f"ok{name}")]
        query = (select(PROBES.c.model, *columns).where(PROBES.c.at >= now - 90 * DAY, PROBES.c.counted.is_(True))
                 .group_by(PROBES.c.model))
        with self._engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return {row["model"]: {name: (row[f"ok{name}"] / row[f"n{name}"] if row[f"n{name}"] else None)
                               for name in UPTIME_WINDOWS} for row in rows}

    def daily(self, now: float, days: int = 90) -> dict[str, list[dict[str, Any]]]:
        """Per model, per UTC day with probes (oldest first): the day and its uptime."""
        return daily_uptimes(self.day_counts(int(now // DAY) - days + 1))

    def day_counts(self, first_day: int) -> dict[str, list[DayCount]]:
        """Per model, per UTC day from ``first_day`` with counted probes (oldest first): (day, probes, successful)."""
        query = (select(PROBES.c.model, PROBES.c.day, func.count().label("n"),
                        func.sum(case((PROBES.c.ok, 1), else_=0)).label("ok"))
                 .where(PROBES.c.day >= first_day, PROBES.c.counted.is_(True))
                 .group_by(PROBES.c.model, PROBES.c.day).order_by(PROBES.c.day))
        result: dict[str, list[DayCount]] = {}
        with self._engine.connect() as db:
            for row in db.execute(query).mappings():
                result.setdefault(row["model"], []).append((int(row["day"]), int(row["n"]), int(row["ok"])))
        return result

    def prune(self, before: float) -> None:
        with self._engine.begin() as db:
            db.execute(delete(PROBES).where(PROBES.c.at < before))


def daily_uptimes(counts: dict[str, list[DayCount]], first_day: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The daily bars from :meth:`ProbeHistory.day_counts`, from ``first_day`` on."""
    return {model: [{"day": (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat(), "uptime": ok / probes,
                     "probes": probes} for day, probes, ok in days if day >= first_day]
            for model, days in counts.items()}


class SummaryStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write(self, summaries: Sequence[Summary]) -> None:
        """Replaces the summaries (models no longer served disappear with the others' update)."""
        with self._engine.begin() as db:
            db.execute(delete(SUMMARIES))
            if summaries:
                db.execute(insert(SUMMARIES), [
                    {"model": s.model, "updated_at": s.updated_at, "state": s.state.value, "since": s.since,
                     "data": s.data} for s in summaries])

    def states(self) -> dict[str, tuple[State, float]]:
        """Each model's state and when it was decided, without the rest of its summary."""
        with self._engine.connect() as db:
            rows = db.execute(select(SUMMARIES.c.model, SUMMARIES.c.state, SUMMARIES.c.updated_at)).all()
        return {model: (State(state), updated_at) for model, state, updated_at in rows}

    def read(self) -> dict[str, Summary]:
        with self._engine.connect() as db:
            rows = db.execute(select(SUMMARIES)).mappings().all()
        return {row["model"]: Summary(row["model"], row["updated_at"], State(row["state"]), row["since"], row["data"])
                for row in rows}
