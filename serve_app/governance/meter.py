"""The metering actor: admission counters and the usage ledger, one instance for the whole cluster, or one per
shard of the keys (``LLMAAS_METERING_SHARDS``): every limit is a key's, so a key's admissions, leases,
reservations and usage all going to one shard keeps each limit as exact as with a single actor.

Every ingress replica asks it before calling an engine (``admit``: one small call per request, so limits
hold across replicas) and sends it usage records in batches (``report``). Its counters are rebuilt from
the ledger when it starts, so a restart loses neither usage nor the state of the limits: a batch that was
in flight is sent again by the ingress, and the ledger ignores request ids it already holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import ray
from ray._common.constants import HEAD_NODE_RESOURCE_NAME
from ray.exceptions import RayError
from sqlalchemy.exc import SQLAlchemyError

from serve_app.database import connect, database_url
from serve_app.errors import ServiceUnavailableError
from serve_app.governance.ledger import Ledger, organisation_subject
from serve_app.governance.quotas import Limit, Measure, Window
from serve_app.governance.records import AdmissionRequest, AdmissionResult, Lease, LimitStatus, UsageRecord
from serve_app.governance.spool import DRAIN_RETRY_SECONDS, Spool
from serve_app.governance.windows import WindowCounters, window_bounds
from serve_app.settings import Settings

NAMESPACE = "llmaas"
PREFIX = "llmaas-meter-"  # the actors' names
ACTOR_CPUS = 0  # the actor only counts: it must never keep a model replica from being placed
# The actors live on the head node (as Serve's controller and Ray Train's state actor do): a worker node lost
# then leaves admission running, where an actor placed on it stopped every request for 15.6 s until Ray declared
# the node dead (benchmarks/README.md, two nodes); the head's loss ends the cluster anyway.
ON_THE_HEAD_NODE = {HEAD_NODE_RESOURCE_NAME: 0.001}
# A request's reservation that its replica stopped renewing (a killed ingress) is dropped after this; live
# replicas renew theirs every HEARTBEAT_SECONDS (serve_app/governance/holdings.py).
RESERVATION_SECONDS = 90.0
HEARTBEAT_SECONDS = 20.0
LEASE_SHARE = 0.1  # a lease covers this share of what each of the key's limits has left
LEASE_MIN_REQUESTS = 4  # ... and is granted only when that share fits at least this many such requests
LEASE_GRACE_SECONDS = 30.0  # a lease its replica never released (a crashed ingress) is dropped after this
SETTLED_MEMORY_SECONDS = 120.0  # how long reported request ids are remembered (see ``release``)

InFlight = Sequence[tuple[str, dict[Measure, float]]]


class Meter(Protocol):
    async def admit(self, request: AdmissionRequest) -> AdmissionResult: ...

    async def report(self, records: Sequence[UsageRecord]) -> int: ...

    async def release(self, lease_id: str, in_flight: InFlight) -> None: ...

    async def renew(self, request_ids: Sequence[str]) -> None: ...


@dataclass
class _Reservation:
    """What a request in flight (or a lease) may still consume. A reservation that holds
    ``Measure.REQUESTS`` stands for requests not counted yet: their records count them when reported."""

    key_id: str
    amounts: dict[Measure, float]
    admitted_at: float
    expires_at: float = 0.0
    organisation_id: str | None = None  # its key's organisation, whose limits it also holds room in

    def __post_init__(self) -> None:
        self.expires_at = self.expires_at or self.admitted_at + RESERVATION_SECONDS

    @property
    def subjects(self) -> tuple[str, ...]:
        """Whose limits it holds room in: its key's, and its organisation's."""
        if self.organisation_id is None:
            return (self.key_id,)
        return (self.key_id, organisation_subject(self.organisation_id))


@dataclass
class _Reservations:
    """The reservations held, with each key's total per measure kept as they come and go (an admission reads
    them for every limit: summing a key's reservations each time cost the actor most of its time under load,
    with thousands in flight), and the earliest expiry, so that expiring scans only when one may be due.
    Totals are exact fractions: floats added and taken away again drift, and a limit must hold to the unit (an
    amount that is not finite, a lease's share of a limit set to infinity, is counted apart)."""

    by_request: dict[str, _Reservation] = field(default_factory=dict)
    by_key: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    totals: defaultdict[str, defaultdict[Measure, Fraction]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Fraction)))
    unbounded: defaultdict[str, Counter[Measure]] = field(default_factory=lambda: defaultdict(Counter))
    earliest_expiry: float = math.inf  # no reservation expires before this (renewals only push expiries later)

    def add(self, request_id: str, reservation: _Reservation) -> None:
        self.pop(request_id)
        self.by_request[request_id] = reservation
        for subject in reservation.subjects:
            self.by_key[subject].add(request_id)
        self._count(reservation, 1)
        self.earliest_expiry = min(self.earliest_expiry, reservation.expires_at)

    def pop(self, request_id: str) -> _Reservation | None:
        reservation = self.by_request.pop(request_id, None)
        if reservation is not None:
            for subject in reservation.subjects:
                self.by_key[subject].discard(request_id)
                if not self.by_key[subject]:
                    del self.by_key[subject]
                    self.totals.pop(subject, None)
                    self.unbounded.pop(subject, None)
                else:
                    self._count_for(subject, reservation, -1)
        return reservation

    def _count(self, reservation: _Reservation, sign: int) -> None:
        for subject in reservation.subjects:
            self._count_for(subject, reservation, sign)

    def _count_for(self, subject: str, reservation: _Reservation, sign: int) -> None:
        totals, unbounded = self.totals[subject], self.unbounded[subject]
        for measure, amount in reservation.amounts.items():
            if math.isfinite(amount):
                totals[measure] += sign * Fraction(amount)
            else:
                unbounded[measure] += sign

    def held(self, key_id: str, measure: Measure) -> float:
        if self.unbounded.get(key_id, Counter())[measure] > 0:
            return math.inf
        totals = self.totals.get(key_id)
        return float(totals.get(measure, 0)) if totals is not None else 0.0

    def renew(self, request_ids: Sequence[str], now: float) -> None:
        for request_id in request_ids:
            reservation = self.by_request.get(request_id)
            if reservation is not None:
                reservation.expires_at = max(reservation.expires_at, now + RESERVATION_SECONDS)

    def expire(self, now: float) -> None:
        if now <= self.earliest_expiry:
            return
        for request_id in [rid for rid, r in self.by_request.items() if r.expires_at < now]:
            self.pop(request_id)
        self.earliest_expiry = min((r.expires_at for r in self.by_request.values()), default=math.inf)


class MeterCore:
    """The actor's logic, also usable in-process (unit tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time, shard: int = 0) -> None:
        self._ledger = Ledger(connect(settings))
        spool = f"usage-spool-{actor_name(settings, shard).removeprefix(PREFIX)}.sqlite3"  # one per actor
        self._spool = Spool(settings.data_dir / spool)
        self._clock = clock
        self._counters = WindowCounters()
        self._reservations = _Reservations()
        self._settled: dict[str, float] = {}  # request id -> when its record was counted
        self._write_lock = asyncio.Lock()
        self._next_drain = 0.0
        self._draining: asyncio.Task[bool] | None = None
        now = clock()
        for window in Window:  # a database that cannot be reached fails the start (admission: 503)
            start, _ = window_bounds(window, now)
            totals = self._ledger.window_totals(start)
            for key, amount in self._spool.store.window_totals(start).items():
                totals[key] = totals.get(key, 0.0) + amount
            # Every shard loads every key's and organisation's totals: which shard meters a key depends on its
            # organisation, and counts no shard consults cost only memory.
            self._counters.load(window, now, totals)

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        now = self._clock()
        self._reservations.expire(now)
        self._drain_spool(now)
        statuses = [self._status(_subject(request, limit), limit, now) for limit in request.limits]
        refused = next((status for status in statuses if status.used >= status.limit.maximum), None)
        if refused is not None:
            return AdmissionResult(admitted=False, statuses=tuple(statuses), refused_by=refused, now=now)
        reservation = _Reservation(request.key_id, dict(request.reservation), now,
                                   organisation_id=request.organisation_id)
        for subject in reservation.subjects:
            self._counters.add(subject, {Measure.REQUESTS: 1}, now)
        self._reservations.add(request.request_id, reservation)
        statuses = [self._status(_subject(request, limit), limit, now) for limit in request.limits]
        lease = self._lease(request, tuple(statuses), now) if request.lease_seconds > 0 else None
        return AdmissionResult(admitted=True, statuses=tuple(statuses), now=now, lease=lease, held_at_meter=True)

    def _lease(self, request: AdmissionRequest, statuses: tuple[LimitStatus, ...], now: float) -> Lease | None:
        """A share of what every limit of the key has left, held here as a reservation; none when a
        limit is close enough that the share would not fit a few requests like this one (near a limit,
        every request is decided here, exactly)."""
        amounts: dict[Measure, float] = {}
        for status in statuses:
            measure = status.limit.measure
            share = status.remaining * LEASE_SHARE
            need = 1.0 if measure is Measure.REQUESTS else request.reservation.get(measure, 0.0)
            if share <= 0 or share < LEASE_MIN_REQUESTS * need:
                return None
            amounts[measure] = min(share, amounts.get(measure, share))
        expires_at = min([now + request.lease_seconds, *(status.resets_at for status in statuses)])
        lease_id = f"lease-{uuid.uuid4().hex}"
        self._reservations.add(lease_id, _Reservation(request.key_id, amounts, now,
                                                      expires_at=expires_at + LEASE_GRACE_SECONDS,
                                                      organisation_id=request.organisation_id))
        return Lease(lease_id, request.key_id, amounts, statuses, expires_at, request.organisation_id)

    async def release(self, lease_id: str, in_flight: InFlight) -> None:
        """A replica gives a lease back. Its requests still in flight keep a reservation each (requests
        counted when reported); those whose record already arrived are not held again."""
        async with self._write_lock:
            lease = self._reservations.pop(lease_id)
            if lease is None:
                return
            now = self._clock()
            for request_id, amounts in in_flight:
                if request_id not in self._settled:
                    self._reservations.add(request_id, _Reservation(lease.key_id, {**amounts, Measure.REQUESTS: 1.0},
                                                                    now, organisation_id=lease.organisation_id))

    async def renew(self, request_ids: Sequence[str]) -> None:
        """A replica's heartbeat: its requests still in flight keep their reservations (unknown ids: requests
        admitted on a lease, or already reported, hold nothing here). Also a moment to move spooled usage to
        the ledger when the platform is idle."""
        now = self._clock()
        self._reservations.renew(request_ids, now)
        self._drain_spool(now)

    async def report(self, records: Sequence[UsageRecord]) -> int:
        """Writes the records to the ledger (once each) and settles their reservations; returns how many
        were new."""
        async with self._write_lock:
            unseen = [record for record in records if record.request_id not in self._settled]
            new = await asyncio.to_thread(self._write, records, unseen)
            now = self._clock()
            self._drain_spool(now)
            self._forget_settled(now)
            fresh = {record.request_id for record in new}
            for record in records:
                reservation = self._reservations.pop(record.request_id)
                self._settled[record.request_id] = now
                if record.request_id not in fresh:
                    continue
                amounts = record.amounts()
                if reservation is not None and Measure.REQUESTS not in reservation.amounts:
                    del amounts[Measure.REQUESTS]  # counted when it was admitted (by this incarnation)
                self._counters.add(record.key_id, amounts, now)
                if record.organisation_id is not None:
                    self._counters.add(organisation_subject(record.organisation_id), amounts, now)
            return len(new)

    def _write(self, records: Sequence[UsageRecord], unseen: Sequence[UsageRecord]) -> list[UsageRecord]:
        """The new records, written to the ledger; to the spool when its database cannot be reached (then
        ``unseen``: those not counted in the last minutes, as the ledger cannot be asked)."""
        try:
            return self._ledger.write(records)
        except SQLAlchemyError:
            return self._spool.keep(unseen)

    def _drain_spool(self, now: float) -> None:
        """Starts moving spooled records to the ledger, at most every ``DRAIN_RETRY_SECONDS``, in the background
        (idempotent by request id: no lock needed)."""
        if not self._spool.held or now < self._next_drain or (self._draining and not self._draining.done()):
            return
        self._next_drain = now + DRAIN_RETRY_SECONDS
        self._draining = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._spool.drain_into, self._ledger))

    @property
    def spooled(self) -> int:
        """Records held in the spool, not in the ledger yet."""
        return self._spool.held

    def _forget_settled(self, now: float) -> None:
        while self._settled:
            request_id, settled_at = next(iter(self._settled.items()))
            if settled_at > now - SETTLED_MEMORY_SECONDS:
                break
            del self._settled[request_id]

    def _status(self, key_id: str, limit: Limit, now: float) -> LimitStatus:
        used = self._counters.used(key_id, limit.measure, limit.window, now)
        used += self._reservations.held(key_id, limit.measure)
        return LimitStatus(limit=limit, used=used, resets_at=window_bounds(limit.window, now)[1])


def _subject(request: AdmissionRequest, limit: Limit) -> str:
    """Whose use a limit counts: the key's, or (an organisation's contract) its organisation's."""
    if limit.scope == "organisation" and request.organisation_id is not None:
        return organisation_subject(request.organisation_id)
    return request.key_id


def actor_name(settings: Settings, shard: int = 0) -> str:
    """One metering actor per ledger (and shard): the name carries a digest of the database's location, and with
    shards, which one of how many (another count starts other actors, which load their keys from the ledger)."""
    name = PREFIX + ledger_digest(settings)
    return name if settings.metering_shards == 1 else f"{name}-{shard}of{settings.metering_shards}"


def shard_of(key_id: str, shards: int, organisation_id: str | None = None) -> int:
    """The shard that meters a key: its organisation's (all of an organisation's keys on one shard, so that its
    contract's limits are exact too), by a digest stable across processes, unlike ``hash``."""
    return zlib.crc32((organisation_id or key_id).encode()) % shards if shards > 1 else 0


def ledger_digest(settings: Settings) -> str:
    return hashlib.sha256(database_url(settings).encode()).hexdigest()[:12]


class ActorMeter:
    """The ingress side of the metering actors: creates each on first use (once cluster-wide) and calls the one
    that holds the request's key (with shards: records split by key, a lease released where it was granted)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._actors: list[Any] = [None] * settings.metering_shards
        self._lease_shards: dict[str, int] = {}  # lease id -> its shard (with more than one)

    def _handle(self, shard: int) -> Any:
        if self._actors[shard] is None:
            actor_class = ray.remote(MeterCore)
            self._actors[shard] = actor_class.options(
                name=actor_name(self._settings, shard), namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                max_restarts=-1, max_task_retries=-1, num_cpus=ACTOR_CPUS, resources=ON_THE_HEAD_NODE,
                max_concurrency=1000,
            ).remote(self._settings, shard=shard)
        return self._actors[shard]

    async def _call(self, shard: int, method: str, *args: Any) -> Any:
        """One call to an actor, bounded by ``metering_timeout_seconds``. A call that fails or times out drops
        the handle, so the next one looks the actor up again (or recreates it, once cluster-wide)."""
        try:
            async with asyncio.timeout(self._settings.metering_timeout_seconds):
                return await getattr(self._handle(shard), method).remote(*args)
        except (TimeoutError, RayError) as error:
            self._actors[shard] = None
            raise MeteringUnavailable(f"the metering actor's {method} failed: {type(error).__name__}") from error

    async def _everywhere(self, method: str, *args: Any) -> list[Any]:
        return list(await asyncio.gather(*(self._call(shard, method, *args) for shard in range(len(self._actors)))))

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        shard = shard_of(request.key_id, len(self._actors), request.organisation_id)
        try:
            result: AdmissionResult = await self._call(shard, "admit", request)
        except MeteringUnavailable as error:
            raise ServiceUnavailableError(
                "Usage metering did not answer in time, so the request was not let in (nothing was billed). "
                "Try again in a few seconds.", code="metering_unavailable", headers={"retry-after": "2"}) from error
        if result.lease is not None and len(self._actors) > 1:
            self._lease_shards[result.lease.lease_id] = shard
        return result

    async def report(self, records: Sequence[UsageRecord]) -> int:
        """Each shard gets its keys' records. A shard that fails fails the report, which the reporter sends
        again whole: the shards that took their part count it once (by request id)."""
        by_shard: defaultdict[int, list[UsageRecord]] = defaultdict(list)
        for record in records:
            by_shard[shard_of(record.key_id, len(self._actors), record.organisation_id)].append(record)
        counts = await asyncio.gather(*(self._call(shard, "report", part) for shard, part in by_shard.items()))
        return sum(counts)

    async def release(self, lease_id: str, in_flight: InFlight) -> None:
        shard = self._lease_shards.pop(lease_id, None)
        if shard is None and len(self._actors) > 1:  # granted before a restart of this replica's meter: ask all
            await self._everywhere("release", lease_id, list(in_flight))
            return
        await self._call(shard or 0, "release", lease_id, list(in_flight))

    async def renew(self, request_ids: Sequence[str]) -> None:
        await self._everywhere("renew", list(request_ids))


class MeteringUnavailable(Exception):
    """The metering actor did not answer (timed out, dead, or being recreated)."""
