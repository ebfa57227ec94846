"""``GET /health``: 200 when every catalog model is up, 503 naming those that are not.

A model is down when its engine health check fails (a dead replica, or a hung engine: see
``serve_app.status.watchdog``) or when the status prober's fresh probes show it in major outage (a
failure on the user's path that the engine's own check cannot see). A load balancer can trust it.

The checks run in the background (:class:`HealthMonitor`), each model on its own every
``health_refresh_seconds``; ``/health`` answers from their latest results at once, whatever the models'
state: a model whose replica is not placed yet, or hangs, costs the caller nothing. A model counts as
down from its first failed (or timed-out) check until one passes; before its first check has answered,
it is ``starting`` (down too).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.routing import HealthChecked

DownByProbes = Callable[[], Awaitable[set[str]]]
FIRST_ROUND_WAIT_SECONDS = 0.5  # the first call after start-up waits this long at most for first results


async def _answers(engine: HealthChecked, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow the task's cancellation
            await engine.check_health()
    except Exception:  # noqa: BLE001 - any failure of a health check (timeout, dead replica) means "down"
        return False
    return True


async def _nothing_down() -> set[str]:
    return set()


class HealthMonitor:
    """Each model's latest health check result, and the models the status probes show down, kept fresh."""

    def __init__(self, engines: Mapping[str, HealthChecked], timeout: float, period: float,
                 down_by_probes: DownByProbes = _nothing_down) -> None:
        self._engines = dict(engines)
        self._timeout = timeout
        self._period = period
        self._down_by_probes = down_by_probes
        self._up: dict[str, bool | None] = dict.fromkeys(self._engines)  # None: no answer yet
        self._probed_down: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._first_results: asyncio.Event | None = None

    def start(self) -> None:
        """Starts the background checks on the running loop (once per loop: Serve runs one for the replica's
        life; test clients may run a loop per call)."""
        loop = asyncio.get_running_loop()
        if self._tasks and self._loop is loop:
            return
        self._cancel()
        self._loop = loop
        self._first_results = asyncio.Event()
        self._tasks = [loop.create_task(self._watch(model_id, engine)) for model_id, engine in self._engines.items()]
        self._tasks.append(loop.create_task(self._watch_probes()))

    async def stop(self) -> None:
        tasks, loop = self._tasks, self._loop
        self._cancel()
        if loop is asyncio.get_running_loop():
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _cancel(self) -> None:
        for task in self._tasks:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(task.cancel)
        self._tasks = []

    async def report(self) -> dict[str, str]:
        """Every model's state, ``up``, ``down`` or ``starting``; waits briefly for the very first results only."""
        self.start()
        assert self._first_results is not None
        if not self._first_results.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FIRST_ROUND_WAIT_SECONDS):
                    await self._first_results.wait()
        return {model_id: self._state(model_id) for model_id in self._engines}

    def _state(self, model_id: str) -> str:
        answered = self._up[model_id]
        if answered is None:
            return "starting"
        return "up" if answered and model_id not in self._probed_down else "down"

    async def _watch(self, model_id: str, engine: HealthChecked) -> None:
        while True:
            self._up[model_id] = await _answers(engine, self._timeout)
            self._note_progress()
            await asyncio.sleep(self._period)

    async def _watch_probes(self) -> None:
        while True:
            # An unreadable status store hides no engine failure: keep the last answer.
            with contextlib.suppress(Exception):
                self._probed_down = await self._down_by_probes()
            await asyncio.sleep(self._period)

    def _note_progress(self) -> None:
        if self._first_results is not None and all(up is not None for up in self._up.values()):
            self._first_results.set()


def routes(monitor: HealthMonitor) -> list[Route]:
    async def health(request: Request) -> JSONResponse:
        states = await monitor.report()
        down = [model_id for model_id, state in states.items() if state != "up"]
        body = {"status": "unavailable" if down else "ok", "models": states, "unavailable": down}
        return JSONResponse(body, status_code=503 if down else 200)

    return [Route("/health", health, methods=["GET"])]
