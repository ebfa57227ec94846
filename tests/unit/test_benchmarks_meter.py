"""benchmarks.meter_scale's stand-in ingress replica, on the real metering logic in-process (no Ray): every
admitted request is billed once, whether admitted by the meter or from a lease, and the summary adds up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks.meter_caller import Caller
from benchmarks.meter_scale import LIMITS, summarize
from serve_app.database import connect
from serve_app.governance.ledger import Ledger
from serve_app.governance.meter import MeterCore
from serve_app.settings import Settings


@pytest.mark.parametrize("lease_seconds", [0.0, 2.0])
def test_every_admitted_request_is_in_the_ledger_once(tmp_path: Path, lease_seconds: float) -> None:
    settings = Settings(data_dir=tmp_path, status_prober=False)

    async def scenario() -> dict[str, object]:
        caller = Caller(settings, lease_seconds, meter=MeterCore(settings))
        await caller.warm(LIMITS)
        found = await caller.run(LIMITS, keys=3, concurrency=4, seconds=0.3)
        await caller.drain()
        return found

    found = asyncio.run(scenario())
    assert found["admitted"] > 0 and found["refused"] == 0 and found["errors"] == 0
    assert Ledger(connect(settings)).count() == found["admitted"] + 1  # and the warm-up request
    calls = found["calls"]
    assert isinstance(calls, dict)
    if lease_seconds:
        assert calls["admit"] <= 3 + 1  # one lease per key (and the warm-up's), then admitted in the replica
    else:
        assert calls["admit"] == found["admitted"]


def test_a_window_summary_adds_the_callers_up() -> None:
    runs = [{"admitted": 100, "records_reported": 90, "refused": 0, "errors": 0, "backlog": 10,
             "calls": {"admit": 4, "report": 20}, "admit_ms_p50": 1.0},
            {"admitted": 300, "records_reported": 300, "refused": 1, "errors": 0, "backlog": 0,
             "calls": {"admit": 6, "report": 10, "release": 2}, "admit_ms_p50": 3.0}]
    found = summarize(runs, seconds=2.0, callers=2, leases=True, cores={"metering actor": 0.5, "other": 0.001})
    assert found["admitted_per_s"] == 200 and found["records_per_s"] == 195 and found["backlog_at_end"] == 10
    assert found["actor_calls_per_s"] == {"admit": 5, "report": 15, "release": 1}
    assert found["actor_calls_per_request"] == pytest.approx(42 / 400)
    assert found["cores"] == {"metering actor": 0.5}
