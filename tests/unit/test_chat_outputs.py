"""What the ingress makes of an engine's tool calls, reasoning and log probabilities: OpenAI's answer and chunk
shapes, read back by the official `openai` SDK (streamed tool calls put together by the SDK itself)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from deployments.llm_protocol import ChoiceDelta, GenerationChunk, GenerationRequest
from serve_app.catalog import Capability, Catalog

WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]
LOGPROB = {"token": "x", "logprob": -0.5, "bytes": [120], "top_logprobs": [{"token": "x", "logprob": -0.5,
                                                                             "bytes": [120]}]}


@dataclass
class ScriptedEngine:
    """Streams a fixed script of deltas (as the replica's output reader makes them), one token each."""

    script: list[ChoiceDelta] = field(default_factory=lambda: [
        ChoiceDelta(0, "", reasoning="Need the"),
        ChoiceDelta(0, "", reasoning=" weather."),
        ChoiceDelta(0, "", tool_calls=({"index": 0, "id": "call_1", "type": "function",
                                        "function": {"name": "get_weather", "arguments": ""}},)),
        ChoiceDelta(0, "", tool_calls=({"index": 0, "function": {"arguments": '{"city": '}},)),
        ChoiceDelta(0, "", "tool_calls", tool_calls=({"index": 0, "function": {"arguments": '"Paris"}'}},),
                    logprobs=(LOGPROB,)),
    ])
    requests: list[GenerationRequest] = field(default_factory=list)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self.requests.append(request)
        for position, delta in enumerate(self.script, start=1):
            yield GenerationChunk([delta], 7, position, 2 if position == len(self.script) else None)

    async def check_health(self) -> None:
        return None


@pytest.fixture
def catalog(catalog: Catalog) -> Catalog:
    """The tests' catalog, its chat model with tools and a reasoning parser."""
    models = [entry.model_copy(update={"capabilities": [*entry.capabilities, Capability.TOOLS],
                                       "tool_parser": "hermes", "reasoning_parser": "deepseek_r1"})
              if entry.id == "fake-chat" else entry for entry in catalog.models]
    return Catalog(models=models)


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


async def test_a_whole_answer_has_tool_calls_reasoning_and_its_usage(async_sdk: openai.AsyncOpenAI,
                                                                      engine: ScriptedEngine) -> None:
    answer = await async_sdk.chat.completions.create(model="fake-chat", messages=ASK, tools=[WEATHER],
                                                     tool_choice="required", logprobs=True)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == ("call_1", "get_weather",
                                                                                  {"city": "Paris"})
    extra = choice.message.model_extra or {}
    assert extra["reasoning"] == extra["reasoning_content"] == "Need the weather."
    assert answer.usage is not None and answer.usage.completion_tokens_details is not None
    assert answer.usage.completion_tokens_details.reasoning_tokens == 2
    assert choice.logprobs is not None and [entry.token for entry in choice.logprobs.content or []] == ["x"]
    sent = engine.requests[0]
    assert sent.tools is not None and sent.tools.choice == "required" and sent.sampling.logprobs == 0


async def test_streamed_tool_calls_come_together_in_the_sdk(async_sdk: openai.AsyncOpenAI) -> None:
    async with async_sdk.chat.completions.stream(model="fake-chat", messages=ASK, tools=[WEATHER],
                                                 stream_options={"include_usage": True}) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_completion()
    assert sum(event.type == "tool_calls.function.arguments.delta" for event in events) >= 2
    calls = final.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.arguments == '{"city": "Paris"}'
    assert final.usage is not None and final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == 2


async def test_each_chunk_says_its_reasoning(async_sdk: openai.AsyncOpenAI) -> None:
    chunks = [chunk async for chunk in await async_sdk.chat.completions.create(
        model="fake-chat", messages=ASK, stream=True)]
    thought = "".join((choice.delta.model_extra or {}).get("reasoning", "") for chunk in chunks
                      for choice in chunk.choices)
    assert thought == "Need the weather."
