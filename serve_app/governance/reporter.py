"""The ingress side of metering: usage records are queued in memory and sent to the actor in batches.

A request never waits on the actor to report (its response is not held back by metering); a failed send
(the actor restarting) keeps the batch and retries with back-off, and the ledger ignores the request ids it
already holds, so a retry counts once.
"""

from __future__ import annotations

import asyncio
import logging

from serve_app.governance.meter import Meter
from serve_app.governance.records import UsageRecord

logger = logging.getLogger("serve_app")
MAX_BATCH = 500
MAX_BACKOFF_SECONDS = 5.0


class UsageReporter:
    def __init__(self, meter: Meter, retry_seconds: float) -> None:
        self._meter = meter
        self._retry_seconds = retry_seconds
        self._pending: list[UsageRecord] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, record: UsageRecord) -> None:
        self._pending.append(record)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send_loop())

    async def _send_loop(self) -> None:
        """Sends what is queued at once; records queued while a send is in flight make the next batch. So
        the meter's counters trail the engines by one actor call, not by a timer."""
        delay = self._retry_seconds
        while self._pending:
            await asyncio.sleep(0)  # records finished in the same tick join this batch
            if await self._send_batch():
                delay = self._retry_seconds
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _send_batch(self) -> bool:
        batch = self._pending[:MAX_BATCH]
        try:
            await self._meter.report(batch)
        except Exception as exc:  # noqa: BLE001 - the actor may be restarting: keep the batch, try again
            logger.warning("usage report of %d records failed (%s); retrying", len(batch), type(exc).__name__)
            return False
        del self._pending[:len(batch)]
        return True

    async def flush(self) -> None:
        """Sends everything queued now (shutdown, tests); retries until the actor takes it."""
        delay = 0.1
        while self._pending:
            if not await self._send_batch():
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
