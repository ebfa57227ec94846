"""Server-sent events as OpenAI streams them: ``data: {json}`` per chunk, then ``data: [DONE]``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from serve_app.errors import to_api_error

PING_SECONDS = 15
Event = str | ServerSentEvent  # a chunk's JSON (``data:`` only), or a typed event (the Responses API's)


async def _events(first: Event, rest: AsyncIterator[Event], request_id: str) -> AsyncIterator[Event]:
    yield first
    try:
        async for event in rest:
            yield event
    except Exception as exc:  # noqa: BLE001 - any failure mid-stream becomes an error event, as OpenAI does
        yield json.dumps(to_api_error(exc, request_id).body())
    yield "[DONE]"


async def stream_response(events: AsyncIterator[Event], request_id: str) -> EventSourceResponse:
    """An SSE response; the first event is awaited here, so an early failure is a plain HTTP error."""
    first = await anext(events)
    return EventSourceResponse(_events(first, events, request_id), sep="\n", ping=PING_SECONDS)
