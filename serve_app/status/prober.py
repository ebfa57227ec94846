"""The status prober: one instance per cluster (a Serve deployment with one replica) that probes every
model on a schedule and turns the results into states, incidents and the summaries /status shows.

Each round: probe every model at once (a hung model costs its own timeout, not the others'), store the
results, decide each model's state from its recent probes and the maintenance windows, reconcile the
open incident, and write the summaries. Rounds are jittered so probes do not beat in step with other
periodic work, and history older than the retention is pruned once an hour.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from ray import serve
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from serve_app import tls
from serve_app.database import connect
from serve_app.keys import KeyStore
from serve_app.settings import Settings
from serve_app.status import availability
from serve_app.status.history import DAY, Probe, ProbeHistory, Summary, SummaryStore, daily_uptimes
from serve_app.status.incidents import IncidentStore
from serve_app.status.maintenance import MaintenanceStore
from serve_app.status.probe_metrics import ProbeMetrics
from serve_app.status.probes import ProbeResult, Probes, ProbeTarget
from serve_app.status.states import State, Thresholds, model_state

logger = logging.getLogger("serve_app")

PROBER_IDENTITY = "status-prober"
HISTORY_POINTS = 60  # probes per model in the page's charts
DAILY_BARS = 90  # days in the page's uptime bars
JITTER = 0.1
PRUNE_EVERY_SECONDS = 3600.0


class Prober:
    def __init__(self, settings: Settings, targets: Sequence[ProbeTarget], engine: Engine, probes: Probes,
                 issue_key: Callable[[], str], metrics: ProbeMetrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._targets = list(targets)
        self._thresholds = Thresholds.from_settings(settings)
        self._probes = probes
        self._issue_key = issue_key
        self._key: str | None = None
        self._history = ProbeHistory(engine)
        self._summaries = SummaryStore(engine)
        self._incidents = IncidentStore(engine)
        self._maintenance = MaintenanceStore(engine)
        self._pruned_at = 0.0

    async def run_forever(self) -> None:
        """Rounds until cancelled; the first one waits an interval, while the models start."""
        while True:
            period = self._settings.status_probe_seconds
            await asyncio.sleep(period * random.uniform(1 - JITTER, 1 + JITTER))
            try:
                await self.round()
            except SQLAlchemyError:  # the database is away for a moment: the next round tries again
                logger.exception("status probe round could not be stored")

    async def round(self) -> list[ProbeResult]:
        if self._key is None:
            self._key = await asyncio.to_thread(self._issue_key)
        timeout = self._settings.status_probe_timeout_seconds
        results = await asyncio.gather(*(self._probes.run(target, self._key, timeout) for target in self._targets))
        if any(result.refused_prober for result in results):
            logger.warning("the platform refused the status prober's key; a new one is issued next round")
            self._key = None
        kept = [result for result in results if not result.refused_prober]
        counted, states = await asyncio.to_thread(self.record, kept, time.time())
        if self._metrics is not None:
            self._metrics.record(counted, states)
        return kept

    def record(self, results: Sequence[ProbeResult], now: float) -> tuple[list[ProbeResult], dict[str, State]]:
        """Stores a round's results and brings states, incidents and summaries up to date. Returns the results that
        count toward availability, and each model's state for the alerts (``unknown`` until it first answers)."""
        windows = self._maintenance.active(now)
        in_maintenance = {t.model for t in self._targets if any(w.covers(t.model, now) for w in windows)}
        models = [target.model for target in self._targets]
        previous = self._summaries.read()
        # Until a model first answers it is starting: its failures count neither in uptime nor as an incident.
        starting = {r.model for r in results if not r.ok and _first_ok(previous.get(r.model), ()) is None}
        self._history.add(results, in_maintenance | starting)
        recent = self._history.recent(models, max(HISTORY_POINTS, self._thresholds.window))
        first_ok = {model: _first_ok(previous.get(model), recent[model]) for model in models}
        # What the counted probes say (all of them for a model never up); what the page says on top of it.
        probed = {t.model: model_state([p.outcome for p in recent[t.model] if p.counted or first_ok[t.model] is None],
                                       self._thresholds, generative=t.kind.generative) for t in self._targets}
        states = {m: State.UNDER_MAINTENANCE if m in in_maintenance else probed[m] for m in models}
        self._incidents.reconcile({m: s for m, s in states.items() if s.is_incident and first_ok[m] is not None}, now)
        uptimes = self._history.uptimes(now)
        first_bar = int(now // DAY) - DAILY_BARS + 1
        counts = self._history.day_counts(min(first_bar, availability.first_day_shown(now)))
        daily = daily_uptimes(counts, first_bar)
        kept_since = now - self._settings.status_retention_days * DAY
        self._summaries.write([
            Summary(t.model, now, states[t.model], _since(previous.get(t.model), probed[t.model], now),
                    {"kind": t.kind.value, "unit": t.kind.unit, "first_ok_at": first_ok[t.model],
                     "probe_state": probed[t.model].value,
                     "last_probe": recent[t.model][0].public() if recent[t.model] else None,
                     "uptime": uptimes.get(t.model, dict.fromkeys(("24h", "7d", "90d"))),
                     "history": [_point(p) for p in reversed(recent[t.model][:HISTORY_POINTS])],
                     "daily": daily.get(t.model, []),
                     "monthly": availability.monthly(counts.get(t.model, []), now, kept_since)})
            for t in self._targets])
        if now - self._pruned_at > PRUNE_EVERY_SECONDS:
            self.prune(now)
        uncounted = in_maintenance | starting
        alerting = {m: states[m] if first_ok[m] is not None or m in in_maintenance else State.UNKNOWN for m in models}
        return [r for r in results if r.model not in uncounted], alerting

    def prune(self, now: float) -> None:
        before = now - self._settings.status_retention_days * DAY
        self._history.prune(before)
        self._incidents.prune(before)
        self._maintenance.prune(before)
        self._pruned_at = now


def _first_ok(previous: Summary | None, recent: Sequence[Probe]) -> float | None:
    if previous is not None and previous.data.get("first_ok_at") is not None:
        return float(previous.data["first_ok_at"])
    return min((probe.at for probe in recent if probe.ok), default=None)


def _since(previous: Summary | None, probed: State, now: float) -> float:
    """Since when the probes have said ``probed`` (maintenance windows do not reset it)."""
    same = previous is not None and previous.data.get("probe_state") == probed.value
    return previous.since if previous is not None and same else now


def _point(probe: Probe) -> dict[str, Any]:
    return {"at": probe.at, "ok": probe.ok, "ttfb_ms": probe.ttfb_ms, "throughput": probe.throughput}


@serve.deployment(num_replicas=1, max_ongoing_requests=8, ray_actor_options={"num_cpus": 0})
class StatusProber:
    """The prober as a Serve deployment: one replica, restarted by Serve if its loop stops."""

    def __init__(self, settings: Settings, targets: list[ProbeTarget]) -> None:
        engine = connect(settings)
        client = httpx.AsyncClient(base_url=tls.probe_url(settings), verify=tls.probe_verify(settings),
                                   timeout=settings.status_probe_timeout_seconds)
        self._prober = Prober(settings, targets, engine, Probes(client),
                              lambda: KeyStore(engine).issue_internal_key(PROBER_IDENTITY), ProbeMetrics())
        self._task = asyncio.get_running_loop().create_task(self._prober.run_forever())

    async def check_health(self) -> None:
        if self._task.done():
            error = None if self._task.cancelled() else self._task.exception()
            raise RuntimeError("the status probe loop has stopped") from error
