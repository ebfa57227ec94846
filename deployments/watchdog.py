"""Tells a hung engine from a quiet one, for the model deployments' ``check_health``.

A process can be alive and its engine stuck: requests go in and nothing comes out. The watch notes when
requests arrive and when the engine produces output (a token, a batch of embeddings, a transcribed
segment). When requests have waited ``stall_seconds`` with no output at all since, the health check
runs a tiny request of its own: if the engine answers, it was only quiet (say, every client gave up
early); if not, the check fails, and Serve stops routing to the replica and replaces it.

``stall_for`` is a fault hook for tests: the deployment holds back its engine's output for a while, as
a hung engine would. It is a method of the deployment, reachable only through a Serve handle (inside the
cluster), never over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class EngineStalledError(RuntimeError):
    pass


# A live engine answers a one-token request at once even when busy (schedulers interleave requests); the
# test waits this long at most, and a failed test fails every later check until output comes again.
TEST_SECONDS = 10.0


class EngineWatch:
    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._stall_seconds = stall_seconds
        self._clock = clock
        self._waiting_since: float | None = None
        self._failed_test = False
        self._held_until = 0.0

    def started(self) -> None:
        """A request arrived: from now on the engine owes output."""
        if self._waiting_since is None:
            self._waiting_since = self._clock()

    def progressed(self) -> None:
        """The engine produced output: it is alive."""
        self._waiting_since = None
        self._failed_test = False

    def suspicious(self) -> bool:
        return self._waiting_since is not None and self._clock() - self._waiting_since >= self._stall_seconds

    async def verify(self, test: Callable[[], Awaitable[object]]) -> None:
        """Raises if requests have waited too long for output and the engine fails ``test`` too."""
        if not self.suspicious():
            return
        waited = self._clock() - (self._waiting_since or self._clock())
        stalled = EngineStalledError(f"the engine produced no output for {waited:.0f} s while requests waited, "
                                     "and did not answer a test request")
        if self._failed_test:
            raise stalled
        try:
            await asyncio.wait_for(test(), min(self._stall_seconds, TEST_SECONDS))
        except TimeoutError:
            self._failed_test = True
            raise stalled from None
        self.progressed()

    def stall_for(self, seconds: float) -> None:
        """Fault hook: hold back every output for ``seconds`` (0 ends a stall)."""
        self._held_until = self._clock() + seconds

    async def hold(self) -> None:
        """Where output leaves the deployment: waits while a stall is set."""
        while (remaining := self._held_until - self._clock()) > 0:
            await asyncio.sleep(min(remaining, 1.0))
