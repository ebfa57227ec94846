"""``GET /v1/models`` and ``GET /v1/models/{id}``: OpenAI's model object plus capabilities and context."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.catalog import ModelEntry
from serve_app.routing import ModelRouter


def model_object(entry: ModelEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "object": "model",
        "created": entry.created,
        "owned_by": entry.owned_by,
        "capabilities": [c.value for c in entry.capabilities],
        "context_length": entry.context_length,
        "family": entry.family,
    }


def routes(router: ModelRouter, auth: Authenticator) -> list[Route]:
    async def list_models(request: Request) -> JSONResponse:
        auth.api_key(request)
        data = [model_object(entry) for entry in router.catalog.models if entry.id in router.engines]
        return JSONResponse({"object": "list", "data": data})

    async def retrieve_model(request: Request) -> JSONResponse:
        auth.api_key(request)
        return JSONResponse(model_object(router.entry(request.path_params["model"])))

    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
    ]
