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


async def stop(*tasks: asyncio.Task[Any]) -> None:
    """Asks every task to stop first, then waits for those that run on the current loop to end."""
    for task in tasks:
        cancel(task)
    running = asyncio.get_running_loop()
    for task in tasks:
        if task.get_loop() is running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
