"""``GET /health``: 200 when every catalog model is up, 503 naming those that are not.

A model is down when its engine health check fails (a dead replica, or a hung engine: see
``deployments.watchdog``) or when the status prober's fresh probes show it in major outage (a
failure on the user's path that the engine's own check cannot see). A load balancer can trust it.

The checks run in the background (:class:`HealthMonitor`), each model on its own every
``health_refresh_seconds``; ``/health`` answers from their latest results at once, whatever the models'
state: a model whose replica is not placed yet, or hangs, costs the caller nothing. A check that fails makes
its model down at once; one that only takes longer than ``health_timeout_seconds`` (a busy machine, or a
hang) counts at the second in a row; the model is up again at the first check that passes. Before its first
check has answered, a model is ``starting`` (down too). A 503 says why, per model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app import tasks as background
from serve_app.routing import HealthChecked

LOGGER = logging.getLogger("serve_app")
DownByProbes = Callable[[], Awaitable[set[str]]]
TIMEOUT = "timeout"
TIMEOUTS_TO_DOWN = 2  # a check that only timed out (a busy machine) counts once it happens twice in a row
FIRST_ROUND_WAIT_SECONDS = 0.5  # the first call after start-up waits this long at most for first results


async def _failure(engine: HealthChecked, timeout: float) -> str | None:
    """Why the engine's health check failed (its error's kind, or TIMEOUT), or None when it passed."""
    try:
        async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow the task's cancellation
            await engine.check_health()
    except TimeoutError:
        return TIMEOUT
    except Exception as error:  # noqa: BLE001 - any failure of a health check (dead replica, hung engine) is "down"
        return type(error).__name__
    return None


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
        self._answered: set[str] = set()  # models whose check has answered at least once (no longer starting)
        self._reasons: dict[str, str] = {}  # why a model's checks make it down, for those they do
        self._timeouts: dict[str, int] = dict.fromkeys(self._engines, 0)  # consecutive timed-out checks
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
        tasks, self._tasks = self._tasks, []
        await background.stop(*tasks)

    def _cancel(self) -> None:
        for task in self._tasks:
            background.cancel(task)
        self._tasks = []

    def reasons(self) -> dict[str, str]:
        """Why each model that is not up is not, in a few words (no user data)."""
        reasons = {model_id: "starting: no health check has answered yet" for model_id in self._engines
                   if model_id not in self._answered}
        reasons.update({model_id: "status probes: major outage" for model_id in self._probed_down
                        if model_id in self._answered})
        reasons.update(self._reasons)
        return reasons

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
        if model_id not in self._answered:
            return "starting"
        return "down" if model_id in self._reasons or model_id in self._probed_down else "up"

    async def _watch(self, model_id: str, engine: HealthChecked) -> None:
        while True:
            self._record(model_id, await _failure(engine, self._timeout))
            self._note_progress()
            await asyncio.sleep(self._period)

    def _record(self, model_id: str, failure: str | None) -> None:
        """A failed check makes the model down at once; a timed-out one at the second in a row."""
        self._timeouts[model_id] = self._timeouts[model_id] + 1 if failure == TIMEOUT else 0
        if failure is None:
            self._answered.add(model_id)
            if self._reasons.pop(model_id, None) is not None:
                LOGGER.warning("model %s is up again", model_id)
            return
        if failure == TIMEOUT and self._timeouts[model_id] < TIMEOUTS_TO_DOWN:
            return
        reason = (f"health check: no answer within {self._timeout:g} s, {self._timeouts[model_id]} times in a row"
                  if failure == TIMEOUT else f"health check failed: {failure}")
        self._answered.add(model_id)
        if model_id not in self._reasons:
            LOGGER.warning("model %s is down (%s)", model_id, reason)
        self._reasons[model_id] = reason

    async def _watch_probes(self) -> None:
        while True:
            # An unreadable status store hides no engine failure: keep the last answer.
            with contextlib.suppress(Exception):
                probed_down = await self._down_by_probes()
                for model_id in probed_down - self._probed_down:
                    LOGGER.warning("model %s is down (status probes: major outage)", model_id)
                self._probed_down = probed_down
            await asyncio.sleep(self._period)

    def _note_progress(self) -> None:
        if self._first_results is not None and len(self._answered) == len(self._engines):
            self._first_results.set()


def routes(monitor: HealthMonitor) -> list[Route]:
    async def health(request: Request) -> JSONResponse:
        states = await monitor.report()
        down = [model_id for model_id, state in states.items() if state != "up"]
        body: dict[str, object] = {"status": "unavailable" if down else "ok", "models": states, "unavailable": down}
        if down:
            body["reasons"] = monitor.reasons()
        return JSONResponse(body, status_code=503 if down else 200)

    return [Route("/health", health, methods=["GET"])]
