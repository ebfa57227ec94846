"""Admission without a round trip per request: an ingress replica admits a key's requests on its own from
a lease, a share of what the key's limits have left that the metering actor granted it.

How limits stay exact:

- The actor grants a lease (``LEASE_SHARE`` of every limit's remaining room) only when that share fits a
  few more requests like the one asking, and holds the whole lease as a reservation: other replicas'
  admissions see it as used. Near a limit no lease is granted, and every request is decided by the actor.
- The replica admits locally only requests whose reservation (one request, its prompt estimate and
  ``max_tokens`` or its audio's duration read from the file's container, their price) fits in what the
  lease has left; finished requests settle their real use against the lease (audio: the seconds the engine
  decoded, in place of the container's).
- A lease lasts ``LLMAAS_ADMISSION_LEASE_SECONDS`` at most, never past the reset of any window it covers.
  When it expires or no longer fits a request, the replica releases it: the actor drops its reservation
  and keeps one for each request it admitted that is still in flight, until that request's record is
  counted. Unused room is held for at most the lease's lifetime: near its limit a key may be refused for
  that long while another replica still holds a share.
- The records of requests admitted on a lease are counted by the actor as any other.

What it saves: the actor round trip before each request (about 9 ms of the request path on 2 CPU cores
shared with the engine, ``python -m benchmarks.governance``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from serve_app.governance.meter import InFlight, Meter
from serve_app.governance.quotas import Measure
from serve_app.governance.records import AdmissionRequest, AdmissionResult, Lease, LimitStatus, UsageRecord


@dataclass
class _Held:
    """A lease in this replica: what it admitted so far, and which of its requests are still in flight."""

    lease: Lease
    used: dict[Measure, float] = field(default_factory=dict)
    in_flight: dict[str, dict[Measure, float]] = field(default_factory=dict)

    def fits(self, reservation: dict[Measure, float]) -> bool:
        """Whether the request's reservation fits in what is left (one that reserves nothing of a measure,
        audio seconds for a chat request for instance, needs some room left)."""
        return all(self._fits(self.used.get(measure, 0.0), _need(measure, reservation), amount)
                   for measure, amount in self.lease.amounts.items())

    @staticmethod
    def _fits(used: float, need: float, amount: float) -> bool:
        return used + need <= amount if need else used < amount

    def take(self, request: AdmissionRequest) -> None:
        for measure in self.lease.amounts:
            self.used[measure] = self.used.get(measure, 0.0) + _need(measure, request.reservation)
        self.in_flight[request.request_id] = dict(request.reservation)

    def settle(self, record: UsageRecord) -> None:
        """Replaces a finished request's reservation by what it really used."""
        reserved = self.in_flight.pop(record.request_id)
        actual = record.amounts()
        for measure in self.lease.amounts:
            if measure is not Measure.REQUESTS:
                self.used[measure] = self.used.get(measure, 0.0) + actual[measure] - reserved.get(measure, 0.0)

    def statuses(self) -> tuple[LimitStatus, ...]:
        """The key's limits as this replica sees them: as granted, plus what it admitted since."""
        return tuple(dataclasses.replace(status, used=status.used + self.used.get(status.limit.measure, 0.0))
                     for status in self.lease.statuses)


def _need(measure: Measure, reservation: dict[Measure, float]) -> float:
    return 1.0 if measure is Measure.REQUESTS else reservation.get(measure, 0.0)


class LeasedMeter:
    """The meter as an ingress replica uses it: admission from leases where it can, else by the actor."""

    def __init__(self, meter: Meter, lease_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._meter = meter
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._held: dict[str, _Held] = {}  # key id -> its lease in this replica
        self._asking: set[str] = set()  # key ids whose lease request is on its way
        self._by_request: dict[str, _Held] = {}  # request id -> the lease that admitted it
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        held = self._held.get(request.key_id)
        now = self._clock()
        if held is not None:
            if not all(limit.measure in held.lease.amounts for limit in request.limits):
                # A limit the lease does not cover (a stream's open-streams limit, on a lease granted to a
                # request that is not a stream): the actor decides, and the lease stays for the others.
                return await self._meter.admit(request)
            if now < held.lease.expires_at and held.fits(request.reservation):
                held.take(request)
                self._by_request[request.request_id] = held
                return AdmissionResult(admitted=True, statuses=held.statuses(), now=now)
            self._give_back(held)
        ask = self._lease_seconds > 0 and request.key_id not in self._asking
        if not ask:
            return await self._meter.admit(request)
        self._asking.add(request.key_id)
        try:
            result = await self._meter.admit(dataclasses.replace(request, lease_seconds=self._lease_seconds))
        finally:
            self._asking.discard(request.key_id)
        if result.lease is not None:
            self._keep(result.lease)
        return result

    async def report(self, records: Sequence[UsageRecord]) -> int:
        for record in records:
            held = self._by_request.pop(record.request_id, None)
            if held is not None:
                held.settle(record)
        return await self._meter.report(records)

    async def release(self, lease_id: str, in_flight: InFlight) -> None:
        await self._meter.release(lease_id, in_flight)

    async def renew(self, request_ids: Sequence[str]) -> None:
        await self._meter.renew(request_ids)

    def _keep(self, lease: Lease) -> None:
        replaced = self._held.get(lease.key_id)
        if replaced is not None:
            self._give_back(replaced)
        held = _Held(lease)
        self._held[lease.key_id] = held
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, lease.expires_at - self._clock()), self._expire, held)

    def _expire(self, held: _Held) -> None:
        if self._held.get(held.lease.key_id) is held:
            self._give_back(held)

    def _give_back(self, held: _Held) -> None:
        """Stops admitting on the lease and releases it; its requests in flight are no longer settled here."""
        if self._held.get(held.lease.key_id) is held:
            del self._held[held.lease.key_id]
        for request_id in held.in_flight:
            self._by_request.pop(request_id, None)
        task = asyncio.get_running_loop().create_task(self._release(held.lease, list(held.in_flight.items())))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, lease: Lease, in_flight: InFlight) -> None:
        try:
            await self._meter.release(lease.lease_id, in_flight)
        except Exception:  # noqa: BLE001 - the actor may be restarting: it drops unreleased leases itself
            return
