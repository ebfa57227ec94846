"""A slow upload holds no ingress slot for long: the body must arrive whole within ``LLMAAS_BODY_TIMEOUT_SECONDS``
of its first read (408 in OpenAI's shape); once it has, a long stream is not cut by that bound."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from serve_app.settings import Settings
from tests.fakes import FakeEngine


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"body_timeout_seconds": 0.3})


async def test_a_body_that_trickles_in_is_408(app: Any, api_key: str) -> None:
    chunks = [{"type": "http.request", "body": b'{"model": "fake-chat", ', "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop(0)
        await asyncio.sleep(3600)  # the rest never comes
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"",
             "root_path": "", "client": ("198.51.100.1", 5000), "server": ("test", 80),
             "headers": [(b"authorization", f"Bearer {api_key}".encode()), (b"content-type", b"application/json")]}
    async with asyncio.timeout(10):  # a stall bound: the body timeout is 0.3 s
        await app(scope, receive, send)
    assert sent[0]["status"] == 408
    error = json.loads(b"".join(message.get("body", b"") for message in sent[1:]))["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_timeout")


def test_a_stream_longer_than_the_body_timeout_is_not_cut(client: TestClient, auth: dict[str, str],
                                                          engine: FakeEngine) -> None:
    engine.delay = 0.8
    with client.stream("POST", "/v1/chat/completions", headers=auth, json={
            "model": "fake-chat", "stream": True, "messages": [{"role": "user", "content": "France?"}]}) as r:
        assert r.status_code == 200
        events = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 3
