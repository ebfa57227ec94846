"""``GET /v1/models`` and ``GET /v1/models/{id}``: OpenAI's model object plus capabilities, context, prices
and lifecycle; ``GET /lifecycle`` (public): the published retirement schedule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.catalog import ModelEntry
from serve_app.catalog.lifecycle import LIFECYCLE_PATH, deprecation_headers, lifecycle_object, schedule
from serve_app.errors import model_not_found
from serve_app.governance.admission import Governance
from serve_app.routing import ModelRouter


def model_object(entry: ModelEntry, today: dt.date) -> dict[str, Any]:
    return {
        "id": entry.id,
        "object": "model",
        "created": entry.created,
        "owned_by": entry.owned_by,
        "capabilities": [c.value for c in entry.capabilities],
        "context_length": entry.context_length,
        "family": entry.family,
        "use_cases": [u.value for u in entry.use_cases],
        "license": entry.license,
        "ip_indemnified": entry.ip_indemnified,
        "pricing": entry.pricing.model_dump(),
        "lifecycle": lifecycle_object(entry, today),
    }


def routes(router: ModelRouter, auth: Authenticator, governance: Governance) -> list[Route]:
    async def list_models(request: Request) -> JSONResponse:
        key = await auth.api_key(request)
        today = router.today()
        quotas = await governance.quotas(key)
        data = [model_object(entry, today) for entry in router.listed()
                if key.internal or quotas.allows_model(entry.id)]
        return JSONResponse({"object": "list", "data": data})

    async def retrieve_model(request: Request) -> JSONResponse:
        key = await auth.api_key(request)
        model = request.path_params["model"]
        if not await governance.allows(key, model):
            raise model_not_found(model)
        entry = router.entry(model)
        return JSONResponse(model_object(entry, router.today()), headers=deprecation_headers(entry, router.today()))

    async def lifecycle(request: Request) -> JSONResponse:
        return JSONResponse(schedule(router.catalog, router.today()))

    return [
        Route(LIFECYCLE_PATH, lifecycle, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
    ]
