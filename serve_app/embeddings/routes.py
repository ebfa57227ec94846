"""Route for ``POST /v1/embeddings``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.embeddings.protocol import EmbeddingCreateRequest
from serve_app.embeddings.serving import EmbeddingService
from serve_app.http import parse_body


def routes(service: EmbeddingService, auth: Authenticator) -> list[Route]:
    async def create_embeddings(request: Request) -> Response:
        auth.api_key(request)
        body = await parse_body(request, EmbeddingCreateRequest)
        return await service.create(body, request.state.request_id)

    return [Route("/v1/embeddings", create_embeddings, methods=["POST"])]
