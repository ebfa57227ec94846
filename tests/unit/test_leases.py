"""Admission leases: ingress replicas admit on their own from a share of a key's limits, and limits hold."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from serve_app.governance.leases import LeasedMeter
from serve_app.governance.meter import InFlight, MeterCore
from serve_app.governance.quotas import Limit, Measure, Quotas
from serve_app.governance.records import AdmissionRequest, AdmissionResult, UsageRecord
from serve_app.settings import Settings

START = 1_764_000_000.0  # the start of a UTC minute: every test stays inside it


class Clock:
    def __init__(self) -> None:
        self.now = START + 1

    def __call__(self) -> float:
        return self.now


class CountingMeter:
    """The actor's logic in-process, counting the calls an ingress replica makes to it."""

    def __init__(self, core: MeterCore) -> None:
        self.core = core
        self.admits = 0

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        self.admits += 1
        return await self.core.admit(request)

    async def report(self, records: Sequence[UsageRecord]) -> int:
        return await self.core.report(records)

    async def release(self, lease_id: str, in_flight: InFlight) -> None:
        await self.core.release(lease_id, in_flight)

    async def renew(self, request_ids: Sequence[str]) -> None:
        await self.core.renew(request_ids)


def record(request_id: str, prompt: int = 0, completion: int = 0) -> UsageRecord:
    return UsageRecord(request_id, "k", "m", "chat.completions", prompt, completion, ended_at=START + 1)


async def settle() -> None:
    """Lets the replicas' background releases reach the meter."""
    for _ in range(5):
        await asyncio.sleep(0)


async def admitted(replica: LeasedMeter, limits: tuple[Limit, ...], request_id: str,
                   reservation: dict[Measure, float] | None = None) -> bool:
    result = await replica.admit(AdmissionRequest("k", request_id, limits, reservation or {}))
    return result.admitted


async def test_a_key_far_from_its_limits_is_admitted_without_asking_the_actor_each_time(settings: Settings) -> None:
    clock = Clock()
    actor = CountingMeter(MeterCore(settings, clock))
    replica = LeasedMeter(actor, lease_seconds=2, clock=clock)
    unlimited: tuple[Limit, ...] = ()
    assert all([await admitted(replica, unlimited, f"r{i}") for i in range(50)])
    assert actor.admits == 1
    assert await replica.report([record(f"r{i}", 3, 2) for i in range(50)]) == 50
    clock.now += 2.5  # the lease ran out: the next request asks again
    assert await admitted(replica, unlimited, "next")
    assert actor.admits == 2


async def test_near_a_limit_two_replicas_admit_exactly_the_limit(settings: Settings) -> None:
    actor = CountingMeter(MeterCore(settings, Clock()))
    replicas = [LeasedMeter(actor, lease_seconds=2, clock=Clock()) for _ in range(2)]
    limits = tuple(Quotas(requests_per_minute=6).limits())
    answers = await asyncio.gather(*(admitted(replicas[i % 2], limits, f"r{i}") for i in range(24)))
    assert sum(answers) == 6
    assert actor.admits == 24  # a share of 6 requests is too small to lease


async def test_leases_never_take_two_replicas_past_a_limit_and_give_back_what_they_did_not_use(
        settings: Settings) -> None:
    clock = Clock()
    actor = CountingMeter(MeterCore(settings, clock))
    replicas = [LeasedMeter(actor, lease_seconds=2, clock=clock) for _ in range(2)]
    limits = tuple(Quotas(requests_per_minute=200).limits())
    count = 0
    for i in range(400):
        count += await admitted(replicas[i % 2], limits, f"r{i}")
        await settle()
    assert 180 <= count <= 200  # some room may still be held by a lease...
    refused = 400 - count  # (each refusal is the actor's)
    assert actor.admits - refused < 70  # ...and leases admitted most requests without the actor
    clock.now += 2.5  # ...until it expires and the replica gives it back
    for i in range(400, 440):
        count += await admitted(replicas[i % 2], limits, f"r{i}")
        await settle()
    assert count == 200


async def test_requests_in_flight_on_a_returned_lease_stay_reserved_until_counted_once(settings: Settings) -> None:
    clock = Clock()
    core = MeterCore(settings, clock)
    replica = LeasedMeter(CountingMeter(core), lease_seconds=2, clock=clock)
    limits = tuple(Quotas(tokens_per_minute=10_000).limits())
    reservation = {Measure.TOKENS: 100.0}
    for i in range(6):  # the first asks the actor (and gets a lease of 1,000 tokens), the rest fit in the lease
        assert await admitted(replica, limits, f"r{i}", reservation)
    await replica.report([record("r5", 10, 20)])  # one finished before the lease is returned
    clock.now += 2.5
    after = await replica.admit(AdmissionRequest("k", "after", limits, reservation))  # returns the lease
    assert after.admitted and after.lease is not None  # ...and asks the actor, which grants a new one
    await settle()
    new_lease = after.lease.amounts[Measure.TOKENS]
    held = (await core.admit(AdmissionRequest("k", "probe", limits))).statuses[0].used
    # r0 and "after" were admitted by the actor (100 each), r1-r4 are in flight on the returned lease (100
    # each), r5 is counted (30); the returned lease itself no longer holds anything.
    assert held == 100 + 100 + 4 * 100 + 30 + new_lease
    await replica.report([record(f"r{i}", 10, 20) for i in range(5)] + [record("after", 10, 20)])
    used = (await core.admit(AdmissionRequest("k", "probe-2", limits))).statuses[0].used
    assert used == 7 * 30 + new_lease


async def test_a_record_counted_before_its_lease_is_released_is_not_held_again(settings: Settings) -> None:
    clock = Clock()
    core = MeterCore(settings, clock)
    limits = tuple(Quotas(tokens_per_minute=10_000).limits())
    first = await core.admit(AdmissionRequest("k", "a", limits, {Measure.TOKENS: 100.0}, lease_seconds=2))
    assert first.lease is not None
    await core.report([record("a", 1, 1), record("b", 1, 1)])  # "b" was admitted on the lease
    await core.release(first.lease.lease_id, [("b", {Measure.TOKENS: 100.0})])  # arrives after b's record
    used = (await core.admit(AdmissionRequest("k", "probe", limits))).statuses[0].used
    assert used == 4
    requests = (await core.admit(AdmissionRequest("k", "p2", tuple(Quotas(requests_per_minute=100).limits()))))
    assert requests.statuses[0].used == 4  # a, b, probe and p2 itself: b counted once


async def test_audio_admitted_on_a_lease_is_charged_against_it(settings: Settings) -> None:
    clock = Clock()
    actor = CountingMeter(MeterCore(settings, clock))
    replica = LeasedMeter(actor, lease_seconds=2, clock=clock)
    limits = tuple(Quotas(audio_minutes_per_month=100).limits())  # 6,000 s: a lease covers 600 s
    assert await admitted(replica, limits, "first")
    assert await admitted(replica, limits, "second")
    assert actor.admits == 1
    await replica.report([UsageRecord("second", "k", "whisper", "audio.transcriptions", audio_seconds=600,
                                      ended_at=START + 1)])
    assert await admitted(replica, limits, "third")
    assert actor.admits == 2  # the lease's 600 s are used up: the actor decides


async def test_a_lease_admits_audio_by_the_seconds_each_file_reserves(settings: Settings) -> None:
    clock = Clock()
    actor = CountingMeter(MeterCore(settings, clock))
    replica = LeasedMeter(actor, lease_seconds=2, clock=clock)
    limits = tuple(Quotas(audio_minutes_per_month=1000).limits())  # 60,000 s
    reservation = {Measure.AUDIO_SECONDS: 250.0}  # a file whose container says 250 s
    # The first asks the actor, which grants a lease of a tenth of what is left: (60,000 - 250) / 10 = 5,975 s.
    for i in range(24):
        assert await admitted(replica, limits, f"r{i}", reservation)
    assert actor.admits == 1  # 23 files of 250 s (5,750 s) fit in the lease...
    assert await admitted(replica, limits, "r24", reservation)
    assert actor.admits == 2  # ...a 24th does not: the actor decides
    await settle()
    await replica.report([UsageRecord(f"r{i}", "k", "whisper", "audio.transcriptions", audio_seconds=250,
                                      ended_at=START + 1) for i in range(25)])
    used = (await actor.core.admit(AdmissionRequest("k", "probe", limits))).statuses[0].used
    lease = next(iter(replica._held.values())).lease.amounts[Measure.AUDIO_SECONDS]
    assert used == 25 * 250 + lease  # every file counted once, the new lease held
