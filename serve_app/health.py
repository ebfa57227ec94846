"""``GET /health``: 200 when every catalog model is up, 503 naming those that are not.

A model is down when its engine health check fails (a dead replica, or a hung engine: see
``serve_app.status.watchdog``) or when the status prober's fresh probes show it in major outage (a
failure on the user's path that the engine's own check cannot see). A load balancer can trust it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.routing import HealthChecked, ModelRouter

DownByProbes = Callable[[], Awaitable[set[str]]]


async def _answers(engine: HealthChecked, timeout: float) -> bool:
    try:
        await asyncio.wait_for(engine.check_health(), timeout)
    except Exception:  # noqa: BLE001 - any failure of a health check (timeout, dead replica) means "down"
        return False
    return True


async def _nothing_down() -> set[str]:
    return set()


def routes(router: ModelRouter, timeout: float, down_by_probes: DownByProbes = _nothing_down) -> list[Route]:
    async def health(request: Request) -> JSONResponse:
        ids = list(router.engines)
        answers, probed_down = await asyncio.gather(
            asyncio.gather(*(_answers(router.engines[i], timeout) for i in ids)), down_by_probes())
        up = {model_id: answered and model_id not in probed_down
              for model_id, answered in zip(ids, answers, strict=True)}
        down = [model_id for model_id in ids if not up[model_id]]
        body = {
            "status": "unavailable" if down else "ok",
            "models": {model_id: "up" if up[model_id] else "down" for model_id in ids},
            "unavailable": down,
        }
        return JSONResponse(body, status_code=503 if down else 200)

    return [Route("/health", health, methods=["GET"])]
