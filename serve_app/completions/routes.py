"""Route for ``POST /v1/completions``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.completions.protocol import CompletionRequest
from serve_app.completions.serving import CompletionService
from serve_app.http import parse_body


def routes(service: CompletionService, auth: Authenticator) -> list[Route]:
    async def create_completion(request: Request) -> Response:
        auth.api_key(request)
        body = await parse_body(request, CompletionRequest)
        return await service.create(body, request.state.request_id)

    return [Route("/v1/completions", create_completion, methods=["POST"])]
