"""The official ``openai`` client against the in-process ingress (stand-in engine)."""

from __future__ import annotations

import openai
import pytest


async def test_sdk_parses_answers_and_streams(async_sdk: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    answer = await async_sdk.chat.completions.create(model="fake-chat", messages=messages)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Paris is the capital."
    assert answer.usage is not None and answer.usage.completion_tokens == 5
    stream = await async_sdk.chat.completions.create(model="fake-chat", messages=messages,  # type: ignore[arg-type]
                                               stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is the capital."
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6
    completion = await async_sdk.completions.create(model="fake-chat", prompt="Hi", max_tokens=1)
    assert completion.choices[0].text == "Paris"
    assert "fake-chat" in [m.id async for m in async_sdk.models.list()]


async def test_sdk_raises_its_own_error_types(async_sdk: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.NotFoundError):
        await async_sdk.chat.completions.create(model="nope", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        await async_sdk.chat.completions.create(model="fake-chat", messages=messages,  # type: ignore[arg-type]
                                          temperature=5)
    async_sdk.api_key = "sk-wrong"
    with pytest.raises(openai.AuthenticationError):
        await async_sdk.models.list()
