"""Maintenance windows, set by admins: their models show ``under_maintenance``, open no incident, and their
probes are left out of uptime."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from serve_app.status.tables import MAINTENANCE


@dataclass(frozen=True)
class Window:
    id: str
    title: str
    models: list[str]  # empty: every model
    starts_at: float
    ends_at: float
    created_at: float

    def covers(self, model: str, now: float) -> bool:
        return self.starts_at <= now < self.ends_at and (not self.models or model in self.models)

    def public(self, now: float) -> dict[str, Any]:
        status = "active" if self.starts_at <= now < self.ends_at else "scheduled" if now < self.starts_at else "done"
        return {"id": self.id, "title": self.title, "models": self.models, "starts_at": self.starts_at,
                "ends_at": self.ends_at, "status": status}


class MaintenanceStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, title: str, models: Sequence[str], starts_at: float, ends_at: float, now: float) -> Window:
        window = Window("mnt_" + uuid.uuid4().hex[:20], title, list(models), starts_at, ends_at, now)
        with self._engine.begin() as db:
            db.execute(insert(MAINTENANCE).values(id=window.id, title=title, models=window.models,
                                                  starts_at=starts_at, ends_at=ends_at, created_at=now))
        return window

    def ending_after(self, since: float) -> list[Window]:
        """Windows that are scheduled, active, or ended after ``since``, soonest first."""
        with self._engine.connect() as db:
            rows = db.execute(select(MAINTENANCE).where(MAINTENANCE.c.ends_at > since)
                              .order_by(MAINTENANCE.c.starts_at)).mappings().all()
        return [Window(r["id"], r["title"], list(r["models"]), r["starts_at"], r["ends_at"], r["created_at"])
                for r in rows]

    def active(self, now: float) -> list[Window]:
        return [window for window in self.ending_after(now) if window.starts_at <= now]

    def end(self, window_id: str, now: float) -> bool:
        """Ends a window now: one that has not started is removed, one under way stops now."""
        with self._engine.begin() as db:
            gone = db.execute(delete(MAINTENANCE).where(MAINTENANCE.c.id == window_id,
                                                        MAINTENANCE.c.starts_at > now)).rowcount
            ended = db.execute(update(MAINTENANCE).where(MAINTENANCE.c.id == window_id, MAINTENANCE.c.ends_at > now)
                               .values(ends_at=now)).rowcount
            exists = db.execute(select(MAINTENANCE.c.id).where(MAINTENANCE.c.id == window_id)).first()
        return bool(gone or ended or exists)

    def prune(self, before: float) -> None:
        with self._engine.begin() as db:
            db.execute(delete(MAINTENANCE).where(MAINTENANCE.c.ends_at < before))
