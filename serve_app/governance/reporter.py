"""The ingress side of metering: usage records are queued in memory and sent to the actor in batches.

A request never waits on the actor to report (its response is not held back by metering); a failed send
(the actor restarting) keeps the batch and retries with back-off, and the ledger ignores the request ids it
already holds, so a retry counts once.

Under load, sends are at most one per ``interval_seconds``: every actor call costs both sides about as
much as a short request's own path (measured: 3.7 ms of the actor's CPU per call at 24 embedding
requests/s, one record each), so records finished meanwhile wait a little and share a call. Usage in the
meter trails by at most that interval; the key's admitted requests stay reserved there until then, so
limits only err on the safe side. A record that frees an open stream (the key's concurrent-streams limit)
is sent at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from serve_app.governance.holdings import Holdings
from serve_app.governance.meter import Meter
from serve_app.governance.records import UsageRecord

logger = logging.getLogger("serve_app")
MAX_BATCH = 500
MAX_BACKOFF_SECONDS = 5.0


class UsageReporter:
    def __init__(self, meter: Meter, retry_seconds: float, interval_seconds: float = 0.0,
                 holdings: Holdings | None = None) -> None:
        self._meter = meter
        self._holdings = holdings  # told which requests' records the actor took (their reservations are gone)
        self._retry_seconds = retry_seconds
        self._interval_seconds = interval_seconds
        self._pending: list[UsageRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._urgent = False  # a queued record must not wait for the interval
        self._wake: asyncio.Future[None] | None = None  # ends the wait for the interval
        self._last_send = -math.inf  # event-loop time of the last send
        # One batch in flight at a time: a flush (shutdown) beside the send loop would otherwise send the same
        # batch twice and then drop it twice from the queue, losing the records behind it.
        self._sending = asyncio.Lock()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, record: UsageRecord, urgent: bool = False) -> None:
        """Queues a record; ``urgent`` sends it without waiting for the interval (it frees an open stream)."""
        self._pending.append(record)
        if urgent:
            self._urgent = True
            if self._wake is not None and not self._wake.done():
                self._wake.set_result(None)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send_loop())

    async def _send_loop(self) -> None:
        """Sends what is queued, at most once per interval unless a record is urgent; records queued while
        a send is in flight make the next batch."""
        delay = self._retry_seconds
        while self._pending:
            await self._gather()
            if await self._send_batch():
                delay = self._retry_seconds
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _gather(self) -> None:
        """Lets the records that finish meanwhile join the batch: the same event-loop tick, or until the
        interval since the last send has passed (an urgent record ends the wait)."""
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        wait = self._last_send + self._interval_seconds - loop.time()
        if wait > 0 and not self._urgent:
            self._wake = loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake, wait)
            self._wake = None
        self._urgent = False
        self._last_send = loop.time()

    async def _send_batch(self) -> bool:
        async with self._sending:
            batch = self._pending[:MAX_BATCH]
            if not batch:
                return True
            try:
                await self._meter.report(batch)
            except Exception as exc:  # noqa: BLE001 - the actor may be restarting: keep the batch, try again
                logger.warning("usage report of %d records failed (%s); retrying", len(batch), type(exc).__name__)
                return False
            del self._pending[:len(batch)]
        if self._holdings is not None:
            self._holdings.settled(record.request_id for record in batch)
        return True

    async def flush(self) -> None:
        """Sends everything queued now (shutdown, tests); retries until the actor takes it."""
        delay = 0.1
        while self._pending:
            if not await self._send_batch():
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
