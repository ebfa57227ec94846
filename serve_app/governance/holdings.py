"""What an ingress replica holds at the metering actor, kept alive by a heartbeat.

Every admitted request may hold a reservation at the actor (its possible use, an open-stream slot) until its
usage record reaches it. The actor drops a reservation that nobody renewed for ``RESERVATION_SECONDS``
(serve_app/governance/meter.py): so that a replica that dies (killed, its node lost) cannot hold a key's
stream slots and room for long, each live replica renews, every ``HEARTBEAT_SECONDS``, the reservations of
its requests whose record has not reached the actor yet, however long they last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from serve_app import tasks as background
from serve_app.governance.meter import HEARTBEAT_SECONDS, Meter

logger = logging.getLogger("serve_app")


class Holdings:
    """The request ids of this replica whose usage has not reached the actor, and the heartbeat that renews them."""

    def __init__(self, meter: Meter, interval_seconds: float = HEARTBEAT_SECONDS) -> None:
        self._meter = meter
        self._interval_seconds = interval_seconds
        self._open: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def hold(self, request_id: str) -> None:
        """A request was admitted: its reservation is renewed until :meth:`settled`."""
        self._open.add(request_id)

    def settled(self, request_ids: Iterable[str]) -> None:
        """The actor took these requests' records (their reservations are gone)."""
        self._open.difference_update(request_ids)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        """Stops the heartbeat (started in another event loop, as by a test client: it is cancelled there)."""
        task, self._task = self._task, None
        if task is not None:
            await background.stop(task)

    async def renew(self) -> None:
        """One heartbeat: the actor extends the reservations of the requests still open here."""
        if self._open:
            await self._meter.renew(sorted(self._open))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._interval_seconds)
            try:
                await self.renew()
            except Exception as exc:  # noqa: BLE001 - the actor may be restarting (it then holds nothing)
                logger.warning("renewing %d reservations at the metering actor failed (%s)", len(self._open),
                               type(exc).__name__)
