"""HTTP plumbing shared by every route: request ids, the body size limit, JSON bodies."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.body_bounds import BodyBounds
from serve_app.errors import InvalidRequestError, RequestTimeoutError, RequestTooLargeError, error_response
from serve_app.request_ids import REQUEST_ID_HEADER, new_request_id

Model = TypeVar("Model", bound=BaseModel)
Caller = TypeVar("Caller")


class RequestContextMiddleware:
    """Gives every request an id (echoed in ``x-request-id``) and refuses bodies over the limit.

    It wraps the whole Starlette app, outside Starlette's own error middleware, so that even a 500
    carries the request id. ``prefix_limits`` gives paths under a prefix their own limit (audio uploads).
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, prefix_limits: Mapping[str, int] | None = None,
                 body_timeout: float = 120.0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.prefix_limits = dict(prefix_limits or {})
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # In Serve, `x-request-id` is the platform's own id, put in place of whatever the client sent before
        # Serve saw the request (serve_app.request_ids); Serve echoes it in the response. Reuse it so that logs
        # and the client see one id. Outside Serve (unit tests), make one.
        given = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = given or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start" and not given:
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        limit = self._limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(_too_large(limit), request_id)
            await response(scope, receive, send_with_id)
            return
        try:
            await self.app(scope, _limited(receive, limit, self.body_timeout), send_with_id)
        except Exception:  # noqa: BLE001 - Starlette has already answered (500) and logged it; stop here.
            return

    def _limit(self, path: str) -> int:
        return next((limit for prefix, limit in self.prefix_limits.items() if path.startswith(prefix)),
                    self.max_body_bytes)


def _limited(receive: Receive, limit: int, timeout: float) -> Receive:
    """``receive`` for a body of at most ``limit`` bytes that must arrive whole within ``timeout`` seconds of
    the first read (a 408 after that: a slow upload holds no slot longer). Once the body is complete, reads
    (waiting for a disconnect during a stream) are not bounded."""
    received = 0
    complete = False
    deadline: float | None = None

    async def limited_receive() -> Message:
        nonlocal received, complete, deadline
        if complete:
            return await receive()
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise RequestTimeoutError(f"The request body did not arrive within {timeout:g} seconds.",
                                      code="request_timeout") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            complete = True
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit)
        return message

    return limited_receive


def _too_large(limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(f"Request body too large: the limit is {limit} bytes.", code="request_too_large")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, parsed once: a 400 ``invalid_json`` for anything else."""
    payload = parse_json(await request.body())
    if not isinstance(payload, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return payload


def parse_json(text: bytes | str) -> Any:
    """JSON as the standard has it (no ``NaN``, no number too large for a float): a 400 ``invalid_json`` else."""
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except _NonFiniteNumberError as exc:
        raise InvalidRequestError(f"We could not parse the JSON body of your request: {exc.literal} is not a "
                                  "finite number.", code="invalid_json") from None
    except (ValueError, RecursionError):  # bad JSON or UTF-8, an integer of thousands of digits, deep nesting
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. The request body must be a JSON object.",
            code="invalid_json",
        ) from None


class _NonFiniteNumberError(ValueError):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _not_json(literal: str) -> float:
    """``NaN``, ``Infinity`` and ``-Infinity``, which Python's parser takes but JSON does not have."""
    raise _NonFiniteNumberError(literal)


def _finite(literal: str) -> float:
    """A JSON number; one too large for a float (``1e400``) would become infinity: refused."""
    value = float(literal)
    if not math.isfinite(value):
        raise _NonFiniteNumberError(literal[:32])
    return value


async def parse_body(request: Request, model: type[Model], bounds: BodyBounds | None = None) -> Model:
    """The request body validated as ``model`` (:func:`validate_body`); errors become OpenAI-style 400s upstream."""
    return validate_body(await read_json(request), model, bounds)


def validate_body(payload: dict[str, Any], model: type[Model], bounds: BodyBounds | None = None) -> Model:
    """A parsed body validated as ``model``: its shape is checked against ``bounds`` before any validation.
    Validation is strict, as JSON is: a number is not taken from a string or a boolean (``"n": true`` is a 400,
    as at OpenAI); a model whose config says ``strict=False`` is validated leniently (times given as UNIX
    seconds or ISO 8601)."""
    if bounds is not None:
        bounds.check(payload)
    return model.model_validate(payload, strict=model.model_config.get("strict", True))


@dataclass(frozen=True)
class JsonOperation:
    """An operation that takes a JSON body: its request model, and the service call that answers it (with the
    validated body, the caller and the request id). Served over HTTP by :func:`json_endpoint`, and run from batch
    files by ``serve_app.batches``."""

    model: type[BaseModel]
    create: Callable[[Any, Any, str], Awaitable[Response]]


def json_endpoint(path: str, operation: JsonOperation, authenticate: Callable[[Request], Awaitable[Caller]],
                  bounds: BodyBounds) -> Route:
    """``POST path``: authenticate, validate the JSON body as the operation's model within ``bounds``, hand both
    and the request id to the operation."""

    async def endpoint(request: Request) -> Response:
        caller = await authenticate(request)
        body = await parse_body(request, operation.model, bounds)
        return await operation.create(body, caller, request.state.request_id)

    return Route(path, endpoint, methods=["POST"])


def limit_param(text: str | None, most: int, default: int = 100) -> int:
    """A list's ``limit`` query parameter, from 1 to ``most``."""
    if text is None:
        return min(default, most)
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise InvalidRequestError(f"'limit' must be a whole number from 1 to {most}.", param="limit",
                                  code="invalid_value")
    return int(text)
