"""The platform's request ids: its own, never a client's.

The platform meters, reserves and deduplicates usage by request id, and Ray Serve takes an incoming
``x-request-id`` header as the request's id. So every HTTP request gets a fresh id made by the platform
(``req_`` and 32 hex digits from the OS's random source) before Serve sees it: :class:`ClientRequestIdMiddleware`
runs in Serve's HTTP servers (the proxy, and each ingress replica's direct port), ahead of Serve's own request-id
middleware (``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH``, set by ``serve_app.ray_env``). It drops every incoming
``x-request-id``, puts the platform's id in its place (Serve then uses it, and echoes it in ``x-request-id``),
and keeps what the client sent (``x-client-request-id`` as OpenAI names it, else its ``x-request-id``) as a
correlation label only: printable ASCII of at most 512 characters, echoed in ``x-client-request-id``, a key of
nothing.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
CLIENT_REQUEST_ID_HEADER = "x-client-request-id"
MAX_CLIENT_REQUEST_ID_CHARS = 512  # OpenAI's bound for X-Client-Request-Id


def new_request_id() -> str:
    return "req_" + secrets.token_hex(16)


def client_label(scope: Scope) -> str | None:
    """What the client sent to correlate its request, if it is a usable label (first header wins)."""
    values = {name.lower(): value for name, value in reversed(scope.get("headers", []))}
    raw = values.get(CLIENT_REQUEST_ID_HEADER.encode()) or values.get(REQUEST_ID_HEADER.encode())
    if not raw or len(raw) > MAX_CLIENT_REQUEST_ID_CHARS or not all(0x20 <= byte < 0x7F for byte in raw):
        return None
    return raw.decode("ascii")


class ClientRequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        label = client_label(scope)
        ours = {REQUEST_ID_HEADER.encode(), CLIENT_REQUEST_ID_HEADER.encode()}
        headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() not in ours]
        headers.append((REQUEST_ID_HEADER.encode(), new_request_id().encode()))
        if label is not None:
            headers.append((CLIENT_REQUEST_ID_HEADER.encode(), label.encode()))
        scope = {**scope, "headers": headers}

        async def send_with_label(message: Message) -> None:
            if message["type"] == "http.response.start" and label is not None:
                MutableHeaders(scope=message).append(CLIENT_REQUEST_ID_HEADER, label)
            await send(message)

        await self.app(scope, receive, send_with_label if label is not None else send)


def serve_middlewares() -> list[Middleware]:
    """What Serve's HTTP servers run ahead of their own request-id middleware (``serve_app.ray_env``)."""
    return [Middleware(ClientRequestIdMiddleware)]
