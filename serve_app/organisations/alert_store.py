"""Budget alerts already fired: one row per organisation, month and threshold, so that an alert fires once per
crossing however many ingress replicas watch the budget (the row's insert is the decision: the one replica
whose insert succeeds delivers it)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Float, Integer, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from serve_app.database import METADATA

BUDGET_ALERTS = Table(
    "budget_alerts",
    METADATA,
    Column("organisation_id", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),  # "2026-12"
    Column("threshold_percent", Integer, primary_key=True, autoincrement=False),
    Column("budget_usd", Float, nullable=False),
    Column("spent_usd", Float, nullable=False),
    Column("fired_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("attempts", Integer, nullable=False),
)


@dataclass(frozen=True)
class FiredAlert:
    organisation_id: str
    month: str
    threshold_percent: int
    budget_usd: float
    spent_usd: float
    fired_at: float
    delivered_at: float | None
    attempts: int

    def public(self) -> dict[str, object]:
        return {"object": "budget_alert", "month": self.month, "threshold_percent": self.threshold_percent,
                "budget_usd": self.budget_usd, "spent_usd": round(self.spent_usd, 8), "fired_at": self.fired_at,
                "delivered": self.delivered_at is not None, "delivered_at": self.delivered_at,
                "attempts": self.attempts}


def _alert(row: Any) -> FiredAlert:
    return FiredAlert(**row._mapping)


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def fire(self, organisation_id: str, month: str, threshold_percent: int, budget_usd: float,
             spent_usd: float) -> FiredAlert | None:
        """Records the crossing; the alert if this call is the one that fired it, None if it had fired."""
        row = {"organisation_id": organisation_id, "month": month, "threshold_percent": threshold_percent,
               "budget_usd": budget_usd, "spent_usd": spent_usd, "fired_at": time.time(), "delivered_at": None,
               "attempts": 0}
        try:
            with self._engine.begin() as db:
                db.execute(insert(BUDGET_ALERTS).values(**row))
        except IntegrityError:
            return None
        return FiredAlert(**row)  # type: ignore[arg-type]

    def attempted(self, alert: FiredAlert, delivered: bool) -> None:
        values: dict[str, object] = {"attempts": BUDGET_ALERTS.c.attempts + 1}
        if delivered:
            values["delivered_at"] = time.time()
        with self._engine.begin() as db:
            db.execute(update(BUDGET_ALERTS).where(
                BUDGET_ALERTS.c.organisation_id == alert.organisation_id, BUDGET_ALERTS.c.month == alert.month,
                BUDGET_ALERTS.c.threshold_percent == alert.threshold_percent).values(**values))

    def fired(self, organisation_id: str, month: str | None = None) -> list[FiredAlert]:
        query = select(BUDGET_ALERTS).where(BUDGET_ALERTS.c.organisation_id == organisation_id)
        if month is not None:
            query = query.where(BUDGET_ALERTS.c.month == month)
        with self._engine.connect() as db:
            rows = db.execute(query.order_by(BUDGET_ALERTS.c.month.desc(), BUDGET_ALERTS.c.threshold_percent))
            return [_alert(row) for row in rows]
