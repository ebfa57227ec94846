"""The official ``openai`` client against the in-process ingress (stand-in engine)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from serve_app.catalog import Catalog
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeEngine


@pytest.fixture
async def sdk(settings: Settings, catalog: Catalog) -> AsyncIterator[openai.AsyncOpenAI]:
    app = build_asgi_app(settings, catalog, {"fake-chat": FakeEngine(), "fake-embed": FakeEngine()})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        created = await http.post("/admin/v1/keys", json={"name": "sdk"},
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        yield openai.AsyncOpenAI(api_key=created.json()["key"], base_url="http://test/v1", http_client=http,
                                 max_retries=0)


async def test_sdk_parses_answers_and_streams(sdk: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    answer = await sdk.chat.completions.create(model="fake-chat", messages=messages)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Paris is the capital."
    assert answer.usage is not None and answer.usage.completion_tokens == 5
    stream = await sdk.chat.completions.create(model="fake-chat", messages=messages,  # type: ignore[arg-type]
                                               stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is the capital."
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6
    completion = await sdk.completions.create(model="fake-chat", prompt="Hi", max_tokens=1)
    assert completion.choices[0].text == "Paris"
    assert [m.id async for m in sdk.models.list()] == ["fake-chat", "fake-embed"]


async def test_sdk_raises_its_own_error_types(sdk: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.NotFoundError):
        await sdk.chat.completions.create(model="nope", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(model="fake-chat", messages=messages,  # type: ignore[arg-type]
                                          temperature=5)
    sdk.api_key = "sk-wrong"
    with pytest.raises(openai.AuthenticationError):
        await sdk.models.list()
