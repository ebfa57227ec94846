"""Reservations of a replica that died expire in minutes; a live replica's heartbeat keeps its own however long
its requests last (serve_app/governance/holdings.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from serve_app.governance.holdings import Holdings
from serve_app.governance.meter import RESERVATION_SECONDS, MeterCore
from serve_app.governance.quotas import Measure, Quotas
from serve_app.governance.records import AdmissionRequest, UsageRecord
from serve_app.governance.reporter import UsageReporter
from serve_app.settings import Settings
from tests.unit.test_leases import START, Clock, CountingMeter


async def open_stream(meter: MeterCore, request_id: str) -> bool:
    """A stream of a key that may hold one open at once."""
    limit = Quotas(max_concurrent_streams=1).stream_limit()
    assert limit is not None
    return (await meter.admit(AdmissionRequest("k", request_id, (limit,), {Measure.STREAMS: 1.0}))).admitted


def record(request_id: str) -> UsageRecord:
    return UsageRecord(request_id, "k", "m", "chat.completions", 3, 2, ended_at=START + 1)


async def test_a_stream_slot_of_a_replica_that_stopped_renewing_comes_back_after_the_reservation_time(
        settings: Settings) -> None:
    clock = Clock()
    meter = MeterCore(settings, clock)
    assert await open_stream(meter, "held-by-a-dead-replica")
    clock.now += RESERVATION_SECONDS - 1
    assert not await open_stream(meter, "too-early")
    clock.now += 2
    assert await open_stream(meter, "after-expiry")


async def test_a_renewed_reservation_holds_as_long_as_its_request_lasts(settings: Settings) -> None:
    clock = Clock()
    core = MeterCore(settings, clock)
    holdings = Holdings(CountingMeter(core))
    assert await open_stream(core, "long-stream")
    holdings.hold("long-stream")
    for _ in range(10):  # 10 heartbeats, far past the reservation time
        clock.now += RESERVATION_SECONDS / 2
        await holdings.renew()
    assert not await open_stream(core, "second")  # the long stream still holds the only slot
    holdings.settled(["long-stream"])
    await core.report([record("long-stream")])
    assert await open_stream(core, "third")


async def test_the_heartbeat_renews_exactly_the_requests_whose_records_the_actor_has_not_taken() -> None:
    class Renewals:
        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        async def report(self, records: Sequence[UsageRecord]) -> int:
            return len(records)

        async def renew(self, request_ids: Sequence[str]) -> None:
            self.calls.append(list(request_ids))

    meter = Renewals()
    holdings = Holdings(meter, interval_seconds=0.02)  # type: ignore[arg-type]
    reporter = UsageReporter(meter, retry_seconds=0.01, holdings=holdings)  # type: ignore[arg-type]
    for request_id in ("a", "b", "c"):
        holdings.hold(request_id)
    holdings.start()
    try:
        await asyncio.sleep(0.05)
        assert meter.calls and meter.calls[-1] == ["a", "b", "c"]
        reporter.record(record("b"))
        await reporter.flush()
        meter.calls.clear()
        await asyncio.sleep(0.05)
        assert meter.calls and all(call == ["a", "c"] for call in meter.calls)
        holdings.settled(["a", "c"])
        meter.calls.clear()
        await asyncio.sleep(0.05)
        assert meter.calls == []  # nothing open: no call at all
    finally:
        await holdings.stop()
