"""The metering actor: admission counters and the usage ledger, one instance for the whole cluster.

Every ingress replica asks it before calling an engine (``admit``: one small call per request, so limits
hold across replicas) and sends it usage records in batches (``report``). Its counters are rebuilt from
the ledger when it starts, so a restart loses neither usage nor the state of the limits: a batch that was
in flight is sent again by the ingress, and the ledger ignores request ids it already holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import ray

from serve_app.database import connect, database_url
from serve_app.governance.ledger import Ledger
from serve_app.governance.quotas import Limit, Measure, Window
from serve_app.governance.records import AdmissionRequest, AdmissionResult, LimitStatus, UsageRecord
from serve_app.governance.windows import WindowCounters, window_bounds
from serve_app.settings import Settings

NAMESPACE = "llmaas"
RESERVATION_SECONDS = 3600.0  # a request never reported (a crashed ingress) stops holding its reservation


class Meter(Protocol):
    async def admit(self, request: AdmissionRequest) -> AdmissionResult: ...

    async def report(self, records: Sequence[UsageRecord]) -> int: ...


@dataclass
class _Reservation:
    key_id: str
    amounts: dict[Measure, float]
    admitted_at: float


@dataclass
class _Reservations:
    by_request: dict[str, _Reservation] = field(default_factory=dict)
    by_key: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, request_id: str, reservation: _Reservation) -> None:
        self.by_request[request_id] = reservation
        self.by_key[reservation.key_id].add(request_id)

    def pop(self, request_id: str) -> _Reservation | None:
        reservation = self.by_request.pop(request_id, None)
        if reservation is not None:
            self.by_key[reservation.key_id].discard(request_id)
        return reservation

    def held(self, key_id: str, measure: Measure) -> float:
        return sum(self.by_request[request_id].amounts.get(measure, 0.0) for request_id in self.by_key.get(key_id, ()))

    def expire(self, before: float) -> None:
        for request_id in [rid for rid, r in self.by_request.items() if r.admitted_at < before]:
            self.pop(request_id)


class MeterCore:
    """The actor's logic, also usable in-process (unit tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._ledger = Ledger(connect(settings))
        self._clock = clock
        self._counters = WindowCounters()
        self._reservations = _Reservations()
        self._write_lock = asyncio.Lock()
        now = clock()
        for window in Window:
            start, _ = window_bounds(window, now)
            self._counters.load(window, now, self._ledger.window_totals(start))

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        now = self._clock()
        self._reservations.expire(now - RESERVATION_SECONDS)
        statuses = [self._status(request.key_id, limit, now) for limit in request.limits]
        refused = next((status for status in statuses if status.used >= status.limit.maximum), None)
        if refused is not None:
            return AdmissionResult(admitted=False, statuses=tuple(statuses), refused_by=refused, now=now)
        self._counters.add(request.key_id, {Measure.REQUESTS: 1}, now)
        self._reservations.add(request.request_id, _Reservation(request.key_id, dict(request.reservation), now))
        statuses = [self._status(request.key_id, limit, now) for limit in request.limits]
        return AdmissionResult(admitted=True, statuses=tuple(statuses), now=now)

    async def report(self, records: Sequence[UsageRecord]) -> int:
        """Writes the records to the ledger (once each) and settles their reservations; returns how many
        were new."""
        async with self._write_lock:
            new = await asyncio.to_thread(self._ledger.write, records)
            now = self._clock()
            fresh = {record.request_id for record in new}
            for record in records:
                reservation = self._reservations.pop(record.request_id)
                if record.request_id not in fresh:
                    continue
                amounts = record.amounts()
                if reservation is not None:
                    del amounts[Measure.REQUESTS]  # counted when it was admitted (by this incarnation)
                self._counters.add(record.key_id, amounts, now)
            return len(new)

    def _status(self, key_id: str, limit: Limit, now: float) -> LimitStatus:
        used = self._counters.used(key_id, limit.measure, limit.window, now)
        if limit.measure is not Measure.REQUESTS:
            used += self._reservations.held(key_id, limit.measure)
        return LimitStatus(limit=limit, used=used, resets_at=window_bounds(limit.window, now)[1])


def actor_name(settings: Settings) -> str:
    """One metering actor per ledger: the name carries a digest of the database's location."""
    return "llmaas-meter-" + hashlib.sha256(database_url(settings).encode()).hexdigest()[:12]


class ActorMeter:
    """The ingress side of the metering actor: creates it on first use (once cluster-wide) and calls it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._actor: Any = None

    def _handle(self) -> Any:
        if self._actor is None:
            actor_class = ray.remote(MeterCore)
            self._actor = actor_class.options(
                name=actor_name(self._settings), namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                max_restarts=-1, max_task_retries=-1, num_cpus=0, max_concurrency=1000,
            ).remote(self._settings)
        return self._actor

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        result: AdmissionResult = await self._handle().admit.remote(request)
        return result

    async def report(self, records: Sequence[UsageRecord]) -> int:
        count: int = await self._handle().report.remote(list(records))
        return count
