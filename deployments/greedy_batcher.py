"""Greedy batching: one call of the work at a time, on the items of every caller waiting when it starts.

Ray Serve's ``serve.batch`` (Ray 2.60) forms the next batch while the previous one still runs, so each batch
holds only what arrived within its ``batch_wait_timeout_s`` and waits its turn: under load an encoder got
batches of one text (measured: 947 of 1,037 batches at 16 concurrent single-input requests), at half the
throughput of the same library on batches of 16. Here a batch is formed only when the work is free, from
everything that queued meanwhile, the way an inference engine's continuous batching fills its next step: no
timer, no wait when idle, larger batches exactly when there is load.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    items: Sequence[Item]
    future: asyncio.Future[Sequence[Result]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GreedyBatcher(Generic[Item, Result]):
    """``work`` takes the items of one or more callers, flattened, and returns one result per item, in order.

    A batch takes waiting callers in arrival order while their items fit in ``max_items`` (a caller with more
    items than that runs alone). A caller that gives up before its batch starts is left out of it; an error of
    ``work`` is every caller's of that batch.
    """

    def __init__(self, work: Callable[[list[Item]], Awaitable[Sequence[Result]]], max_items: int) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._work = work
        self._max_items = max_items
        self._waiting: deque[_Waiting[Item, Result]] = deque()
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[Item]) -> Sequence[Result]:
        waiting: _Waiting[Item, Result] = _Waiting(items)
        self._waiting.append(waiting)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())
        return await waiting.future

    def _next_batch(self) -> list[_Waiting[Item, Result]]:
        batch: list[_Waiting[Item, Result]] = []
        count = 0
        while self._waiting:
            head = self._waiting[0]
            if head.future.done():  # its caller gave up
                self._waiting.popleft()
                continue
            if batch and count + len(head.items) > self._max_items:
                break
            batch.append(self._waiting.popleft())
            count += len(head.items)
        return batch

    async def _drain(self) -> None:
        while batch := self._next_batch():
            try:
                results = await self._work([item for waiting in batch for item in waiting.items])
            except Exception as error:  # noqa: BLE001 - every caller of the batch gets it; the next batch runs
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                continue
            except BaseException:  # the worker itself is cancelled (the replica stops): so are its callers
                for waiting in batch:
                    waiting.future.cancel()
                raise
            bounds = itertools.accumulate((len(waiting.items) for waiting in batch), initial=0)
            for waiting, (start, end) in zip(batch, itertools.pairwise(bounds), strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(results[start:end])
