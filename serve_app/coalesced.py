"""A value that is costly to produce (a scrape of every node), produced at most once per ``max_age`` seconds
however many callers ask: callers within the age get the latest value, concurrent callers after it share one
production."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    def __init__(self, produce: Callable[[], Awaitable[T]], max_age: float) -> None:
        self._produce = produce
        self._max_age = max_age
        self._latest: tuple[float, T] | None = None
        self._pending: asyncio.Future[T] | None = None

    async def get(self) -> T:
        if self._latest is not None and time.monotonic() - self._latest[0] < self._max_age:
            return self._latest[1]
        pending = self._pending
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = self._pending = asyncio.ensure_future(self._refresh())
        # A caller that goes away does not cancel the production the others wait for.
        return await asyncio.shield(pending)

    async def _refresh(self) -> T:
        try:
            value = await self._produce()
            self._latest = (time.monotonic(), value)
            return value
        finally:
            self._pending = None
