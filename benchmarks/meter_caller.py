"""One stand-in ingress replica for ``benchmarks.meter_scale``: the ingress's metering path, and nothing else.

A request here is admitted exactly as the ingress admits one (``LeasedMeter`` over ``ActorMeter``), then its usage
record goes to a ``UsageReporter`` with the platform's report interval, sent at once where the ingress would send
it at once (admitted by the actor itself, without a lease: its reservation there must be freed). Each method
call to the actor is counted.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from serve_app.governance.leases import LeasedMeter
from serve_app.governance.meter import ActorMeter, InFlight, Meter
from serve_app.governance.quotas import Limit, Measure
from serve_app.governance.records import AdmissionRequest, AdmissionResult, UsageRecord
from serve_app.governance.reporter import UsageReporter
from serve_app.settings import Settings

PROMPT_TOKENS = 200
COMPLETION_TOKENS = 50
RESERVATION = {Measure.TOKENS: PROMPT_TOKENS + 256.0, Measure.COST: 0.0001}


class CountingMeter:
    """The actor's client, counting calls by method and the records the actor took, and when."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self.calls: Counter[str] = Counter()
        self.reported: list[tuple[float, int]] = []  # (when, records) of each report the actor took

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        self.calls["admit"] += 1
        return await self._meter.admit(request)

    async def report(self, records: Sequence[UsageRecord]) -> int:
        self.calls["report"] += 1
        taken = await self._meter.report(records)
        self.reported.append((time.perf_counter(), len(records)))
        return taken

    async def release(self, lease_id: str, in_flight: InFlight) -> None:
        self.calls["release"] += 1
        await self._meter.release(lease_id, in_flight)

    async def renew(self, request_ids: Sequence[str]) -> None:
        await self._meter.renew(request_ids)


class Caller:
    """Ray actor (created with ``ray.remote(Caller)``) driving admissions and reports for a while."""

    def __init__(self, settings: Settings, lease_seconds: float, meter: Meter | None = None) -> None:
        self._counting = CountingMeter(meter or ActorMeter(settings))  # another meter: the unit tests' in-process one
        self._meter = LeasedMeter(self._counting, lease_seconds)
        self._reporter = UsageReporter(self._meter, settings.metering_retry_seconds,
                                       settings.metering_interval_seconds)

    async def warm(self, limits: Sequence[Limit]) -> None:
        """One request through the path (the actor's start, the connection to it), not measured."""
        await self._request("warm-up", tuple(limits), Counter(), [])
        await self._reporter.flush()

    async def drain(self) -> None:
        """Sends every record still queued (after a window: the ledger must then hold one per admission)."""
        await self._reporter.flush()

    async def _request(self, key_id: str, limits: tuple[Limit, ...], tally: Counter[str],
                       latencies: list[float]) -> None:
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        result = await self._meter.admit(AdmissionRequest(key_id, request_id, limits, dict(RESERVATION)))
        latencies.append(time.perf_counter() - started)
        if not result.admitted:
            tally["refused"] += 1
            return
        tally["admitted"] += 1
        self._reporter.record(UsageRecord(request_id, key_id, "bench-model", "chat", PROMPT_TOKENS, COMPLETION_TOKENS,
                                          cost_usd=0.00003, ended_at=time.time()),
                              urgent=result.held_at_meter and result.lease is None)

    async def run(self, limits: Sequence[Limit], keys: int, concurrency: int, seconds: float) -> dict[str, Any]:
        """``concurrency`` loops of requests for ``seconds``; what was admitted, reported and left queued."""
        self._counting.calls.clear()
        self._counting.reported.clear()
        tally: Counter[str] = Counter()
        latencies: list[float] = []
        rng = random.Random()
        key_ids = [f"bench-key-{index}" for index in range(keys)]
        start = time.perf_counter()
        deadline = start + seconds

        async def loop() -> None:
            while time.perf_counter() < deadline:
                try:
                    await self._request(rng.choice(key_ids), tuple(limits), tally, latencies)
                except Exception:  # noqa: BLE001 - counted and reported: the run goes on
                    tally["errors"] += 1
                await asyncio.sleep(0)  # a request admitted from a lease never waits: let the reporter run, as
                # a real request's HTTP reads and writes would

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        end = time.perf_counter()
        reported = sum(count for when, count in self._counting.reported if start <= when <= end)
        latencies.sort()
        return {"admitted": tally["admitted"], "refused": tally["refused"], "errors": tally["errors"],
                "records_reported": reported, "backlog": self._reporter.pending, "calls": dict(self._counting.calls),
                "admit_ms_p50": latencies[len(latencies) // 2] * 1000 if latencies else float("nan")}
