"""The Responses API (stateless) through the official `openai` SDK against the in-process ingress: answers and
typed stream events the SDK parses, input items and instructions as the engine gets them, nothing kept."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes import FakeEngine


async def test_a_response_is_parsed_by_the_sdk(async_sdk: openai.AsyncOpenAI, engine: FakeEngine) -> None:
    response = await async_sdk.responses.create(model="fake-chat", input="What is the capital of France?",
                                                instructions="Answer briefly.", store=True)
    assert response.output_text == "Paris is the capital."
    assert response.status == "completed" and response.store is False  # nothing is kept, whatever was asked
    assert response.id.startswith("resp_")
    assert response.usage is not None and response.usage.output_tokens == 5
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert engine.requests[-1].messages == [{"role": "system", "content": "Answer briefly."},
                                            {"role": "user", "content": "What is the capital of France?"}]


async def test_a_streamed_response_comes_as_typed_events(async_sdk: openai.AsyncOpenAI) -> None:
    stream = await async_sdk.responses.create(model="fake-chat", input="Capital of France?", stream=True)
    events = [event async for event in stream]
    kinds = [event.type for event in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "Paris is the capital."
    assert [event.sequence_number for event in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "Paris is the capital." and final.usage is not None
    assert final.usage.output_tokens == 5


async def test_the_sdk_stream_helper_puts_the_response_together(async_sdk: openai.AsyncOpenAI) -> None:
    async with async_sdk.responses.stream(model="fake-chat", input="Capital of France?") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == "Paris is the capital."


async def test_input_items_become_the_conversation(async_sdk: openai.AsyncOpenAI, engine: FakeEngine) -> None:
    tool = {"type": "function", "name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    items: Any = [
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    with pytest.raises(openai.BadRequestError):  # the fake model has no tools capability: refused, as in chat
        await async_sdk.responses.create(model="fake-chat", input=items, tools=[tool])
    await async_sdk.responses.create(model="fake-chat", input=items)
    assert engine.requests[-1].messages == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}]


async def test_a_cut_answer_is_incomplete(async_sdk: openai.AsyncOpenAI) -> None:
    response = await async_sdk.responses.create(model="fake-chat", input="Capital?", max_output_tokens=2)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(("fields", "param"), [
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"background": True}, "background"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0]"),
])
async def test_what_needs_state_or_is_not_offered_is_a_400(async_sdk: openai.AsyncOpenAI, fields: dict[str, Any],
                                                          param: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await async_sdk.responses.create(**{"model": "fake-chat", "input": "hi", **fields})
    assert refused.value.param == param
    assert refused.value.code == "unsupported_parameter"
