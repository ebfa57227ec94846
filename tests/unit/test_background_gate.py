"""Batch lines wait for a model replica to be free of interactive requests, and never longer than the bound."""

from __future__ import annotations

import asyncio
import time

from deployments.background_gate import BackgroundGate


async def test_background_work_waits_for_a_quiet_moment() -> None:
    gate = BackgroundGate(quiet_seconds=0.2, max_wait_seconds=10)
    started: list[float] = []

    async def interactive() -> None:
        with gate.interactive():
            await asyncio.sleep(0.3)

    async def background() -> None:
        await gate.background()
        started.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(interactive(), background())
    assert started[0] - began >= 0.5 - 0.02  # 0.3 s of interactive work, then 0.2 s of quiet


async def test_background_work_goes_in_after_the_longest_wait_under_constant_load() -> None:
    gate = BackgroundGate(quiet_seconds=0.2, max_wait_seconds=0.3)
    with gate.interactive():
        began = time.monotonic()
        await gate.background()
        assert 0.3 - 0.02 <= time.monotonic() - began < 5


async def test_an_idle_replica_lets_background_work_in_at_once() -> None:
    gate = BackgroundGate(quiet_seconds=0.2, max_wait_seconds=10)
    await asyncio.wait_for(gate.background(), timeout=5)
