"""Incidents: opened when models leave ``operational``, resolved when they are all back.

One automatic incident is open at a time: models that fail while it is open join it (a node that takes
three models down is one incident, not three). Each affected model keeps its own start, recovery and
latest state; the incident keeps its worst state as its impact. The prober alone reconciles incidents;
admins give them a title and add updates.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from serve_app.status.states import LABELS, State, worst
from serve_app.status.tables import INCIDENT_MODELS, INCIDENT_UPDATES, INCIDENTS

UPDATE_STATUSES = ("investigating", "identified", "monitoring", "update", "resolved")


@dataclass(frozen=True)
class AffectedModel:
    model: str
    state: State
    started_at: float
    recovered_at: float | None


@dataclass(frozen=True)
class IncidentUpdate:
    at: float
    status: str
    message: str
    author: str


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    impact: State
    automatic: bool
    started_at: float
    resolved_at: float | None
    models: list[AffectedModel]
    updates: list[IncidentUpdate]

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "impact": self.impact.value, "automatic": self.automatic,
                "started_at": self.started_at, "resolved_at": self.resolved_at,
                "status": "resolved" if self.resolved_at is not None else "open",
                "models": [{"model": m.model, "state": m.state.value, "started_at": m.started_at,
                            "recovered_at": m.recovered_at} for m in self.models],
                "updates": [{"at": u.at, "status": u.status, "message": u.message, "author": u.author}
                            for u in self.updates]}


class IncidentStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def reconcile(self, affected: Mapping[str, State], now: float) -> None:
        """Brings the open automatic incident in line with the models that are in an incident state now."""
        with self._engine.begin() as db:
            row = db.execute(select(INCIDENTS.c.id, INCIDENTS.c.impact)
                             .where(INCIDENTS.c.automatic.is_(True), INCIDENTS.c.resolved_at.is_(None))
                             .order_by(INCIDENTS.c.started_at.desc())).first()
            if row is None:
                if affected:
                    _open(db, affected, now)
                return
            incident_id, impact = row
            _follow_models(db, incident_id, affected, now)
            new_impact = worst([State(impact), *affected.values()])
            if new_impact.value != impact:
                db.execute(update(INCIDENTS).where(INCIDENTS.c.id == incident_id).values(impact=new_impact.value))
            if not affected:
                db.execute(update(INCIDENTS).where(INCIDENTS.c.id == incident_id).values(resolved_at=now))
                _note(db, incident_id, now, "resolved", "Every affected model is operational again.")

    def get(self, incident_id: str) -> Incident | None:
        found = self._load(INCIDENTS.c.id == incident_id)
        return found[0] if found else None

    def recent(self, since: float, limit: int = 50) -> list[Incident]:
        """Incidents still open or started since ``since``, newest first."""
        return self._load((INCIDENTS.c.started_at >= since) | INCIDENTS.c.resolved_at.is_(None), limit)

    def set_title(self, incident_id: str, title: str) -> Incident | None:
        with self._engine.begin() as db:
            db.execute(update(INCIDENTS).where(INCIDENTS.c.id == incident_id).values(title=title))
        return self.get(incident_id)

    def add_update(self, incident_id: str, status: str, message: str, now: float) -> Incident | None:
        if self.get(incident_id) is None:
            return None
        with self._engine.begin() as db:
            _note(db, incident_id, now, status, message, author="admin")
        return self.get(incident_id)

    def prune(self, before: float) -> None:
        """Forgets incidents resolved before ``before``, with their models and updates."""
        with self._engine.begin() as db:
            old = select(INCIDENTS.c.id).where(INCIDENTS.c.resolved_at < before)
            db.execute(delete(INCIDENT_MODELS).where(INCIDENT_MODELS.c.incident_id.in_(old)))
            db.execute(delete(INCIDENT_UPDATES).where(INCIDENT_UPDATES.c.incident_id.in_(old)))
            db.execute(delete(INCIDENTS).where(INCIDENTS.c.resolved_at < before))

    def _load(self, condition: Any, limit: int = 50) -> list[Incident]:
        with self._engine.connect() as db:
            rows = db.execute(select(INCIDENTS).where(condition).order_by(INCIDENTS.c.started_at.desc())
                              .limit(limit)).mappings().all()
            ids = [row["id"] for row in rows]
            models: dict[str, list[AffectedModel]] = {}
            for m in db.execute(select(INCIDENT_MODELS).where(INCIDENT_MODELS.c.incident_id.in_(ids))
                                .order_by(INCIDENT_MODELS.c.started_at, INCIDENT_MODELS.c.model)).mappings():
                models.setdefault(m["incident_id"], []).append(
                    AffectedModel(m["model"], State(m["state"]), m["started_at"], m["recovered_at"]))
            updates: dict[str, list[IncidentUpdate]] = {}
            for u in db.execute(select(INCIDENT_UPDATES).where(INCIDENT_UPDATES.c.incident_id.in_(ids))
                                .order_by(INCIDENT_UPDATES.c.at.desc(), INCIDENT_UPDATES.c.id.desc())).mappings():
                updates.setdefault(u["incident_id"], []).append(
                    IncidentUpdate(u["at"], u["status"], u["message"], u["author"]))
        return [Incident(row["id"], row["title"], State(row["impact"]), row["automatic"], row["started_at"],
                         row["resolved_at"], models.get(row["id"], []), updates.get(row["id"], [])) for row in rows]


def _open(db: Connection, affected: Mapping[str, State], now: float) -> None:
    incident_id = "inc_" + uuid.uuid4().hex[:20]
    impact = worst(affected.values())
    names = sorted(affected)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    db.execute(insert(INCIDENTS).values(id=incident_id, title=f"{LABELS[impact]}: {shown}"[:200],
                                        impact=impact.value, automatic=True, started_at=now))
    for model, state in affected.items():
        db.execute(insert(INCIDENT_MODELS).values(incident_id=incident_id, model=model, state=state.value,
                                                  started_at=now))
        _note(db, incident_id, now, "investigating", f"Detected by the status probes: {model} is in "
                                                      f"{LABELS[state].lower()}.")


def _follow_models(db: Connection, incident_id: str, affected: Mapping[str, State], now: float) -> None:
    """Records recoveries, state changes and newly affected models in the open incident."""
    members = {m["model"]: m for m in db.execute(
        select(INCIDENT_MODELS).where(INCIDENT_MODELS.c.incident_id == incident_id)).mappings()}
    this = (INCIDENT_MODELS.c.incident_id == incident_id)
    for model, row in members.items():
        if row["recovered_at"] is None and model not in affected:
            db.execute(update(INCIDENT_MODELS).where(this, INCIDENT_MODELS.c.model == model).values(recovered_at=now))
            _note(db, incident_id, now, "monitoring", f"{model} is operational again.")
    for model, state in affected.items():
        member = members.get(model)
        if member is None:
            db.execute(insert(INCIDENT_MODELS).values(incident_id=incident_id, model=model, state=state.value,
                                                      started_at=now))
        elif member["recovered_at"] is None and member["state"] == state.value:
            continue
        else:
            db.execute(update(INCIDENT_MODELS).where(this, INCIDENT_MODELS.c.model == model)
                       .values(state=state.value, recovered_at=None))
        _note(db, incident_id, now, "investigating", f"{model} is in {LABELS[state].lower()}.")


def _note(db: Connection, incident_id: str, now: float, status: str, message: str, author: str = "system") -> None:
    db.execute(insert(INCIDENT_UPDATES).values(incident_id=incident_id, at=now, status=status, message=message,
                                               author=author))
