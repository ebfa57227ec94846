"""Route for ``POST /v1/chat/completions``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.chat.protocol import ChatCompletionRequest
from serve_app.chat.serving import ChatService
from serve_app.http import parse_body


def routes(service: ChatService, auth: Authenticator) -> list[Route]:
    async def create_chat_completion(request: Request) -> Response:
        auth.api_key(request)
        body = await parse_body(request, ChatCompletionRequest)
        return await service.create(body, request.state.request_id)

    return [Route("/v1/chat/completions", create_chat_completion, methods=["POST"])]
