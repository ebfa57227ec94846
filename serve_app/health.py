"""``GET /health``: 200 once every catalog model answers its engine health check, 503 naming those that don't."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.routing import HealthChecked, ModelRouter


async def _answers(engine: HealthChecked, timeout: float) -> bool:
    try:
        await asyncio.wait_for(engine.check_health(), timeout)
    except Exception:  # noqa: BLE001 - any failure of a health check (timeout, dead replica) means "down"
        return False
    return True


def routes(router: ModelRouter, timeout: float) -> list[Route]:
    async def health(request: Request) -> JSONResponse:
        ids = list(router.engines)
        results = await asyncio.gather(*(_answers(router.engines[i], timeout) for i in ids))
        down = [model_id for model_id, up in zip(ids, results, strict=True) if not up]
        body = {
            "status": "unavailable" if down else "ok",
            "models": {model_id: "up" if up else "down" for model_id, up in zip(ids, results, strict=True)},
            "unavailable": down,
        }
        return JSONResponse(body, status_code=503 if down else 200)

    return [Route("/health", health, methods=["GET"])]
