"""Metering shards: each key's admissions, leases, reservations and usage go to one metering actor, so every limit
stays exact with several; the ingress's side routes each call, records split by key."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

from serve_app.database import connect
from serve_app.governance.leases import LeasedMeter
from serve_app.governance.ledger import Ledger
from serve_app.governance.meter import ActorMeter, MeterCore, actor_name, shard_of
from serve_app.governance.quotas import Measure, Quotas, Window
from serve_app.governance.records import AdmissionRequest, UsageRecord
from serve_app.settings import Settings
from tests.unit.test_leases import START, Clock, settle

SHARDS = 3


class InProcess:
    """A metering actor's handle (``handle.method.remote(...)``) over an in-process core; counts the calls."""

    def __init__(self, core: MeterCore) -> None:
        self.core = core
        self.calls: Counter[str] = Counter()

    def __getattr__(self, method: str) -> Any:
        def remote(*args: Any) -> Any:
            self.calls[method] += 1
            return getattr(self.core, method)(*args)

        return SimpleNamespace(remote=remote)


def sharded(settings: Settings, clock: Clock) -> tuple[ActorMeter, list[InProcess]]:
    shards = settings.model_copy(update={"metering_shards": SHARDS})
    meter = ActorMeter(shards)
    handles = [InProcess(MeterCore(shards, clock, shard=index)) for index in range(SHARDS)]
    meter._actors = list(handles)  # the actors, in-process
    return meter, handles


def keys_on_every_shard() -> list[str]:
    keys: dict[int, str] = {}
    index = 0
    while len(keys) < SHARDS:
        keys.setdefault(shard_of(f"key-{index}", SHARDS), f"key-{index}")
        index += 1
    return [keys[shard] for shard in range(SHARDS)]


def usage(request_id: str, key_id: str) -> UsageRecord:
    return UsageRecord(request_id, key_id, "m", "chat.completions", 3, 2, ended_at=START + 1)


def test_a_key_has_one_shard_everywhere_and_keys_spread() -> None:
    assert shard_of("key-a", 1) == 0
    assert all(shard_of(f"key-{i}", 4) == shard_of(f"key-{i}", 4) in range(4) for i in range(50))
    spread = Counter(shard_of(f"key-{i}", 4) for i in range(400))
    assert len(spread) == 4 and min(spread.values()) > 60  # none gets few


def test_one_shard_keeps_the_single_actors_name_and_shards_name_their_count(settings: Settings) -> None:
    single = actor_name(settings)
    assert single.startswith("llmaas-meter-") and actor_name(settings, 0) == single
    four = settings.model_copy(update={"metering_shards": 4})
    assert [actor_name(four, shard) for shard in range(4)] == [f"{single}-{shard}of4" for shard in range(4)]


async def test_two_replicas_on_three_shards_admit_exactly_each_keys_limit(settings: Settings) -> None:
    clock = Clock()
    meter, handles = sharded(settings, clock)
    replicas = [LeasedMeter(meter, lease_seconds=2, clock=clock) for _ in range(2)]
    limits = tuple(Quotas(requests_per_minute=200).limits())
    keys = keys_on_every_shard()
    admitted: Counter[str] = Counter()
    for index in range(1200):
        key = keys[index % SHARDS]
        result = await replicas[index % 2].admit(AdmissionRequest(key, f"r{index}", limits, {}))
        admitted[key] += result.admitted
        await settle()
    clock.now += 2.5  # every lease runs out and goes back to the shard that granted it
    for index in range(1200, 1260):
        key = keys[index % SHARDS]
        result = await replicas[index % 2].admit(AdmissionRequest(key, f"r{index}", limits, {}))
        admitted[key] += result.admitted
        await settle()
    assert admitted == {key: 200 for key in keys}
    for shard, handle in enumerate(handles):  # each shard was asked about its own key only
        assert handle.calls["admit"] > 0 and handle.calls["release"] > 0, shard


async def test_records_go_to_their_keys_shards_once_and_counters_restart_from_the_ledger(settings: Settings) -> None:
    clock = Clock()
    meter, handles = sharded(settings, clock)
    keys = keys_on_every_shard()
    records = [usage(f"r{index}", keys[index % SHARDS]) for index in range(30)]
    assert await meter.report(records) == 30
    assert await meter.report(records[:12]) == 0  # sent again (a shard failed the first time): counted once
    assert [handle.calls["report"] for handle in handles] == [2, 2, 2]
    assert Ledger(connect(settings)).count() == 30
    shards = settings.model_copy(update={"metering_shards": SHARDS})
    limit = Quotas(tokens_per_minute=1000).limits()[0]
    for shard in range(SHARDS):  # a restarted shard loads the use of every key (which it meters: its organisation)
        restarted = MeterCore(shards, clock, shard=shard)
        used = [(await restarted.admit(AdmissionRequest(other, f"probe-{shard}-{other}", (limit,)))).statuses[0].used
                for other in keys]
        assert used == [50.0 for _ in keys]
    assert limit.window is Window.MINUTE and limit.measure is Measure.TOKENS


async def test_heartbeats_reach_every_shard(settings: Settings) -> None:
    meter, handles = sharded(settings, Clock())
    await meter.renew(["r1", "r2"])
    assert [handle.calls["renew"] for handle in handles] == [1, 1, 1]


def test_the_shards_run_side_by_side(settings: Settings) -> None:
    """Their spools are files of their own in the same data folder."""
    clock = Clock()
    _, handles = sharded(settings, clock)
    asyncio.run(handles[0].core.renew([]))
    spools = sorted(path.name for path in settings.data_dir.glob("usage-spool-*.sqlite3"))
    assert len(spools) == SHARDS


def test_reserved_totals_are_exact_and_a_key_with_nothing_reserved_holds_zero() -> None:
    from serve_app.governance.meter import _Reservation, _Reservations

    held = _Reservations()
    amounts = [0.1, 0.2, 16.2, 1e-9, 0.3]
    for index, amount in enumerate(amounts):
        held.add(f"r{index}", _Reservation("k", {Measure.COST: amount}, admitted_at=START))
    held.pop("r2")
    held.pop("r0")
    assert held.held("k", Measure.COST) == float(sum(map(Fraction, [0.2, 1e-9, 0.3])))  # no drift from 16.2
    for request_id in ("r1", "r3", "r4"):
        held.pop(request_id)
    assert held.held("k", Measure.COST) == 0.0 and not held.totals and not held.by_key
    held.add("lease", _Reservation("k", {Measure.COST: math.inf}, admitted_at=START))
    held.add("r5", _Reservation("k", {Measure.COST: 1.0}, admitted_at=START))
    assert held.held("k", Measure.COST) == math.inf
    held.pop("lease")
    assert held.held("k", Measure.COST) == 1.0


def test_reservations_expire_when_due_and_not_before() -> None:
    from serve_app.governance.meter import RESERVATION_SECONDS, _Reservation, _Reservations

    held = _Reservations()
    held.add("early", _Reservation("k", {Measure.REQUESTS: 1.0}, admitted_at=START))
    held.add("late", _Reservation("k", {Measure.REQUESTS: 1.0}, admitted_at=START + 30))
    held.renew(["early"], START + 10)  # now due at START + 10 + RESERVATION_SECONDS
    held.expire(START + RESERVATION_SECONDS + 5)
    assert set(held.by_request) == {"early", "late"}
    held.expire(START + RESERVATION_SECONDS + 10.5)
    assert set(held.by_request) == {"late"} and held.held("k", Measure.REQUESTS) == 1.0
    held.expire(START + RESERVATION_SECONDS + 30.5)
    assert not held.by_request and held.held("k", Measure.REQUESTS) == 0.0
