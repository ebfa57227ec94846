"""Interactive requests first: a model replica lets background work (batch lines) in only while it has been free
of interactive requests for a moment.

A background request waits until no interactive request has been in flight in this replica for
``quiet_seconds``; one that has waited ``max_wait_seconds`` goes in anyway, so that batches still move (slowly)
under constant interactive load. A background request already running is not stopped: an interactive one that
arrives shares the engine with at most the batch's few lines in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator

POLL_SECONDS = 0.05


class BackgroundGate:
    def __init__(self, quiet_seconds: float = 1.0, max_wait_seconds: float = 30.0) -> None:
        self._quiet_seconds = quiet_seconds
        self._max_wait_seconds = max_wait_seconds
        self._interactive = 0
        self._last_interactive = -math.inf  # monotonic time an interactive request last ended

    @contextlib.contextmanager
    def interactive(self) -> Iterator[None]:
        self._interactive += 1
        try:
            yield
        finally:
            self._interactive -= 1
            self._last_interactive = time.monotonic()

    def _quiet(self) -> bool:
        return self._interactive == 0 and time.monotonic() - self._last_interactive >= self._quiet_seconds

    async def background(self) -> None:
        """Returns once background work may start."""
        deadline = time.monotonic() + self._max_wait_seconds
        while not self._quiet() and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
