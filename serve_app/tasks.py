"""Stopping the ingress's background tasks, whichever event loop runs them (Serve runs one loop for a replica's
life; a test client may start and stop the app from loops of its own)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


def cancel(task: asyncio.Task[Any]) -> None:
    """Asks ``task`` to stop from any thread (nothing to do once its loop is closed)."""
    loop = task.get_loop()
    if not loop.is_closed():
        loop.call_soon_threadsafe(task.cancel)


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancels ``task`` and, where it runs on the current loop, waits for it to end."""
    cancel(task)
    if task.get_loop() is asyncio.get_running_loop():
        with contextlib.suppress(asyncio.CancelledError):
            await task
