from __future__ import annotations

import asyncio

import pytest

from deployments.watchdog import EngineStalledError, EngineWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def answers() -> None:
    return None


async def never_answers() -> None:
    await asyncio.Event().wait()


async def test_a_quiet_engine_is_never_tested() -> None:
    clock = Clock()
    watch = EngineWatch(stall_seconds=10, clock=clock)
    clock.now += 3600
    await watch.verify(never_answers)  # no request waited: nothing to check


async def test_output_clears_the_suspicion() -> None:
    clock = Clock()
    watch = EngineWatch(stall_seconds=10, clock=clock)
    watch.started()
    clock.now += 5
    watch.progressed()
    clock.now += 60
    assert not watch.suspicious()
    await watch.verify(never_answers)


async def test_requests_waiting_past_the_limit_fail_when_the_engine_does_not_answer_a_test() -> None:
    clock = Clock()
    watch = EngineWatch(stall_seconds=0.05, clock=clock)
    watch.started()
    clock.now += 1
    assert watch.suspicious()
    with pytest.raises(EngineStalledError, match="no output"):
        await watch.verify(never_answers)
    with pytest.raises(EngineStalledError):  # later checks fail at once, without another test
        await asyncio.wait_for(watch.verify(answers), 1)
    watch.progressed()
    await watch.verify(never_answers)


async def test_an_engine_that_answers_the_test_was_only_quiet() -> None:
    clock = Clock()
    watch = EngineWatch(stall_seconds=10, clock=clock)
    watch.started()  # say, a client that gave up before any token
    clock.now += 30
    await watch.verify(answers)
    assert not watch.suspicious()


async def test_the_fault_hook_holds_output_until_the_stall_ends() -> None:
    clock = Clock()
    watch = EngineWatch(stall_seconds=10, clock=clock)
    watch.stall_for(30)
    held = asyncio.create_task(watch.hold())
    await asyncio.sleep(0.01)
    assert not held.done()
    clock.now += 31
    await asyncio.wait_for(held, 5)
    watch.stall_for(0)
    await asyncio.wait_for(watch.hold(), 1)
