"""What /status and /status.json show, assembled on any ingress replica from the database: the prober's
summaries, the incidents and the maintenance windows. Only model ids, states, timings and the operator's
own incident texts: no key, no request, nothing a user sent."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Engine

from serve_app.routing import ModelRouter
from serve_app.settings import Settings
from serve_app.status.availability import SLO_AVAILABILITY
from serve_app.status.history import DAY, SummaryStore
from serve_app.status.incidents import IncidentStore
from serve_app.status.maintenance import MaintenanceStore
from serve_app.status.states import LABELS, State, overall_state

INCIDENT_DAYS = 90
MAINTENANCE_SHOWN_DAYS = 7  # ended windows stay on the page this long


class StatusReport:
    def __init__(self, engine: Engine, router: ModelRouter, settings: Settings) -> None:
        self._router = router
        self._summaries = SummaryStore(engine)
        self.incidents = IncidentStore(engine)
        self.maintenance = MaintenanceStore(engine)
        self.interval = settings.status_probe_seconds
        # Past this age a summary means the prober has stopped: the page says so, /health ignores it.
        self.stale_after = 3 * settings.status_probe_seconds + settings.status_probe_timeout_seconds

    def served(self) -> list[str]:
        today = self._router.today()
        return [entry.id for entry in self._router.listed() if entry.lifecycle.status(today) != "retired"]

    def down_by_probes(self, now: float) -> set[str]:
        """Models whose fresh probes show a major outage (for /health)."""
        return {model for model, (state, at) in self._summaries.states().items()
                if state is State.MAJOR_OUTAGE and now - at <= self.stale_after}

    async def probed_down(self) -> set[str]:
        return await asyncio.to_thread(self.down_by_probes, time.time())

    def build(self, now: float) -> dict[str, Any]:
        summaries = self._summaries.read()
        windows = self.maintenance.ending_after(now - MAINTENANCE_SHOWN_DAYS * DAY)
        today = self._router.today()
        models = []
        for model_id in self.served():
            entry = self._router.entry(model_id)
            summary = summaries.get(model_id)
            data = summary.data if summary else {}
            maintenance = next((w for w in windows if w.covers(model_id, now)), None)
            # Maintenance is read live (an admin's window shows at once); otherwise what the probes say.
            state = (State.UNDER_MAINTENANCE if maintenance
                     else State(data.get("probe_state", summary.state)) if summary else State.UNKNOWN)
            models.append({
                "id": model_id, "family": entry.family, "capabilities": [c.value for c in entry.capabilities],
                "lifecycle": entry.lifecycle.status(today), "state": state.value, "label": LABELS[state],
                "since": summary.since if summary and not maintenance else None,
                "checked_at": summary.updated_at if summary else None,
                "maintenance": maintenance.id if maintenance else None,
                "unit": data.get("unit"), "last_probe": data.get("last_probe"),
                "uptime": data.get("uptime", dict.fromkeys(("24h", "7d", "90d"))),
                "history": data.get("history", []), "daily": data.get("daily", []),
                "monthly": data.get("monthly", []),
            })
        overall = overall_state(State(model["state"]) for model in models)
        checked = [summary.updated_at for summary in summaries.values()]
        return {
            "object": "status",
            "generated_at": now,
            "state": overall.value,
            "label": _headline(overall),
            "probe_interval_seconds": self.interval,
            "slo": {"availability": SLO_AVAILABILITY, "period": "calendar month (UTC)"},
            "checked_at": max(checked, default=None),
            "stale": not checked or now - max(checked) > self.stale_after,
            "models": models,
            "incidents": [i.public() for i in self.incidents.recent(now - INCIDENT_DAYS * DAY)],
            "maintenance": [w.public(now) for w in windows],
        }


def _headline(state: State) -> str:
    return {State.OPERATIONAL: "All systems operational", State.DEGRADED_PERFORMANCE: "Degraded performance",
            State.PARTIAL_OUTAGE: "Partial outage", State.MAJOR_OUTAGE: "Major outage",
            State.UNDER_MAINTENANCE: "Maintenance under way", State.UNKNOWN: "Waiting for the first probes"}[state]
