"""The embeddings engines' batching: requests that wait while the work runs go together into the next call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from deployments.greedy_batcher import GreedyBatcher


class Recorder:
    """Work that doubles each item, one call at a time, and records the items of each call."""

    def __init__(self, seconds: float = 0.05, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self._seconds = seconds
        self._fail_on = fail_on

    async def __call__(self, items: list[int]) -> Sequence[int]:
        self.calls.append(items)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self._seconds)
            if self._fail_on in items:
                raise ValueError("bad item")
            return [2 * item for item in items]
        finally:
            self.running -= 1


def test_requests_arriving_during_a_call_go_together_into_the_next_one() -> None:
    work = Recorder()

    async def scenario() -> list[Sequence[int]]:
        batcher = GreedyBatcher(work, max_items=256)
        first = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.01)  # the first call runs alone; 16 more arrive while it does
        rest = [asyncio.create_task(batcher.submit([n, n + 100])) for n in range(2, 18)]
        return await asyncio.gather(first, *rest)

    results = asyncio.run(scenario())
    assert results[0] == [2] and results[1:] == [[2 * n, 2 * (n + 100)] for n in range(2, 18)]
    assert [len(call) for call in work.calls] == [1, 32]  # no timer: the first waited for nothing
    assert work.most_running == 1


def test_a_batch_holds_at_most_max_items_but_a_larger_request_runs_alone() -> None:
    work = Recorder(seconds=0.01)

    async def scenario() -> list[Sequence[int]]:
        batcher = GreedyBatcher(work, max_items=4)
        return await asyncio.gather(*(batcher.submit(items) for items in ([1, 2], [3, 4], [5], list(range(10)), [6])))

    results = asyncio.run(scenario())
    assert results[3] == [2 * n for n in range(10)]
    assert [len(call) for call in work.calls] == [4, 1, 10, 1]  # arrival order kept; each call within 4 or alone


def test_an_error_reaches_every_caller_of_its_batch_and_later_batches_still_run() -> None:
    work = Recorder(fail_on=13)

    async def scenario() -> tuple[list[object], Sequence[int]]:
        batcher = GreedyBatcher(work, max_items=256)
        blocker = asyncio.create_task(batcher.submit([0]))
        await asyncio.sleep(0.01)
        failed = await asyncio.gather(batcher.submit([12]), batcher.submit([13]), return_exceptions=True)
        await blocker
        return failed, await batcher.submit([7])

    failed, later = asyncio.run(scenario())
    assert all(isinstance(error, ValueError) for error in failed)
    assert later == [14]


def test_a_caller_that_gives_up_before_its_batch_is_left_out_of_it() -> None:
    work = Recorder()

    async def scenario() -> Sequence[int]:
        batcher = GreedyBatcher(work, max_items=256)
        blocker = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.01)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit([99]), 0.01)
        kept = await batcher.submit([3])
        await blocker
        return kept

    assert asyncio.run(scenario()) == [6]
    assert [99] not in work.calls and all(99 not in call for call in work.calls)
