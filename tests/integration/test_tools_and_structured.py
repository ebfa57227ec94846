"""Tool calling, structured outputs and log probabilities end to end: SmolLM2 on real vLLM behind the platform,
driven by the official `openai` SDK as applications drive it (``parse()``, streamed tool calls the SDK puts back
together, a tool round trip)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel, Field

from tests.integration.conftest import Platform

pytestmark = pytest.mark.integration
SMOL = "SmolLM2-135M-Instruct"
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME: Any = {"type": "function", "function": {
    "name": "get_time", "description": "Get the time in a timezone",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}
ASK: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
NAMED: Any = {"type": "function", "function": {"name": "get_weather"}}


class City(BaseModel):
    # Bounded strings: a 135M model at temperature 0 can otherwise write one string (or one number: "population":
    # 1111...) until max_tokens, a limit of the model, not of the platform.
    name: str = Field(max_length=24)
    country: str = Field(max_length=24)


CITY_FORMAT: Any = {"type": "json_schema",
                    "json_schema": {"name": "City", "schema": City.model_json_schema(), "strict": True}}


def test_a_named_function_is_called_with_valid_arguments(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(model=SMOL, messages=ASK, tools=[WEATHER, TIME], tool_choice=NAMED,
                                         max_tokens=40, temperature=0)
    message = answer.choices[0].message
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    assert answer.choices[0].finish_reason == "stop"  # as OpenAI ends a forced named call


def test_required_makes_a_call_among_the_tools(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(model=SMOL, messages=ASK, tools=[WEATHER, TIME], tool_choice="required",
                                         parallel_tool_calls=False, max_tokens=60, temperature=0)
    calls = answer.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].function.name in {"get_weather", "get_time"}
    json.loads(calls[0].function.arguments)
    assert answer.choices[0].finish_reason == "tool_calls"


def test_streamed_tool_calls_come_together_in_the_sdk(sdk: openai.OpenAI) -> None:
    with sdk.chat.completions.stream(model=SMOL, messages=ASK, tools=[WEATHER], tool_choice=NAMED,
                                     max_tokens=40, temperature=0) as stream:
        fragments = [event for event in stream if event.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    assert "city" in json.loads(calls[0].function.arguments)
    assert len(fragments) > 1  # arguments arrive as they are generated


def test_a_tool_round_trip_ends_in_an_answer(sdk: openai.OpenAI) -> None:
    first = sdk.chat.completions.create(model=SMOL, messages=ASK, tools=[WEATHER], tool_choice=NAMED, max_tokens=40,
                                        temperature=0)
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    history = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"sky": "sunny", "celsius": 21})}]
    final = sdk.chat.completions.create(model=SMOL, messages=history, tools=[WEATHER], tool_choice="none",
                                        max_tokens=30, temperature=0)
    assert final.choices[0].message.content
    assert final.choices[0].message.tool_calls is None
    assert final.usage is not None and first.usage is not None
    assert final.usage.prompt_tokens > first.usage.prompt_tokens  # the call and its result were in the prompt


def test_parse_returns_the_pydantic_model(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.parse(model=SMOL, response_format=City, max_tokens=200, temperature=0,
                                        messages=[{"role": "user", "content": "Describe a city in France."}])
    parsed = answer.choices[0].message.parsed
    assert isinstance(parsed, City)


def test_completion_tokens_equal_the_tokens_with_logprobs(sdk: openai.OpenAI) -> None:
    """With log probabilities on, each generated token has one entry: their number is the engine's own count."""
    answer = sdk.chat.completions.create(model=SMOL, messages=ASK, tools=[WEATHER], tool_choice="required",
                                         logprobs=True, top_logprobs=3, max_tokens=40, temperature=0)
    assert answer.usage is not None and answer.choices[0].logprobs is not None
    entries = answer.choices[0].logprobs.content or []
    assert len(entries) == answer.usage.completion_tokens
    assert all(len(entry.top_logprobs) == 3 and entry.logprob <= 0 for entry in entries)


def test_streamed_logprobs_match_the_whole_answer(sdk: openai.OpenAI) -> None:
    whole = sdk.chat.completions.create(model=SMOL, messages=ASK, logprobs=True, top_logprobs=2, max_tokens=8,
                                        temperature=0)
    chunks = list(sdk.chat.completions.create(model=SMOL, messages=ASK, logprobs=True, top_logprobs=2, max_tokens=8,
                                              temperature=0, stream=True))
    streamed = [entry.token for chunk in chunks for choice in chunk.choices
                for entry in (choice.logprobs.content or [] if choice.logprobs else [])]
    assert streamed == [entry.token for entry in whole.choices[0].logprobs.content or []]  # type: ignore[union-attr]


def test_completions_logprobs_in_the_legacy_shape(sdk: openai.OpenAI) -> None:
    answer = sdk.completions.create(model=SMOL, prompt="The capital of France is", logprobs=2, max_tokens=4,
                                    temperature=0)
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None and logprobs.text_offset is not None
    assert "".join(logprobs.tokens) == answer.choices[0].text
    assert len(logprobs.tokens) == answer.usage.completion_tokens  # type: ignore[union-attr]
    assert logprobs.text_offset[0] == 0
    assert all(len(top) >= 1 for top in logprobs.top_logprobs or [])


@pytest.mark.parametrize(("fields", "param"), [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nope"}}}]},
     "tools[0].function.parameters"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "unknown"}}}, "tool_choice"),
    ({"messages": [*ASK, {"role": "tool", "tool_call_id": "call_x", "content": "sunny"}]}, "messages[1].tool_call_id"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}}}}},
     "response_format.json_schema.schema"),
    ({"store": True}, "store"),
])
def test_bad_tools_and_formats_are_400s_naming_the_field(sdk: openai.OpenAI, fields: dict[str, Any],
                                                          param: str) -> None:
    body: dict[str, Any] = {"model": SMOL, "messages": ASK, "max_tokens": 5, **fields}
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(**body)
    assert refused.value.param == param
    # The model still answers afterwards.
    assert sdk.chat.completions.create(model=SMOL, messages=ASK, max_tokens=2).choices


def test_a_model_without_tools_refuses_them(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="tiny-idefics3", messages=ASK, tools=[WEATHER], max_tokens=5)
    assert (refused.value.code, refused.value.param) == ("model_not_supported", "tools")


def test_models_list_tools_as_a_capability(sdk: openai.OpenAI, platform: Platform, api_key: str) -> None:
    models = httpx.get(f"{platform.base_url}/v1/models", headers={"Authorization": f"Bearer {api_key}"},
                       timeout=30).json()["data"]
    by_id = {model["id"]: model for model in models}
    assert "tools" in by_id[SMOL]["capabilities"]
    assert "tools" not in by_id["tiny-idefics3"]["capabilities"]


def test_usage_of_tool_and_structured_requests_is_metered_exactly(platform: Platform) -> None:
    _, secret = platform.create_key("tools-metering")
    client = openai.OpenAI(api_key=secret, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=300)
    told = [client.chat.completions.create(model=SMOL, messages=ASK, tools=[WEATHER], tool_choice=NAMED,
                                           max_tokens=30).usage,
            # create(), not parse(): what is metered is the point, and a sampled answer may stop at max_tokens
            # (parse() raises on that; the usage is metered all the same).
            client.chat.completions.create(model=SMOL, response_format=CITY_FORMAT, max_tokens=200,
                                           messages=[{"role": "user", "content": "A city?"}]).usage]
    chunks = list(client.chat.completions.create(model=SMOL, messages=ASK, tools=[WEATHER], tool_choice="required",
                                                 max_tokens=40, stream=True, stream_options={"include_usage": True}))
    told.append(chunks[-1].usage)
    expected = (3, sum(u.prompt_tokens for u in told if u), sum(u.completion_tokens for u in told if u))
    deadline = time.monotonic() + 60
    while True:
        totals = httpx.get(f"{platform.base_url}/v1/usage", headers={"Authorization": f"Bearer {secret}"},
                           timeout=60).json()["totals"]
        seen = (totals["requests"], totals["prompt_tokens"], totals["completion_tokens"])
        if seen == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert seen == expected


def test_echo_puts_the_prompt_and_its_logprobs_first(sdk: openai.OpenAI) -> None:
    prompt = "The capital of France is"
    answer = sdk.completions.create(model=SMOL, prompt=prompt, echo=True, logprobs=1, max_tokens=3, temperature=0)
    plain = sdk.completions.create(model=SMOL, prompt=prompt, max_tokens=3, temperature=0)
    choice = answer.choices[0]
    assert choice.text == prompt + plain.choices[0].text
    logprobs = choice.logprobs
    assert logprobs is not None and logprobs.tokens is not None and logprobs.token_logprobs is not None
    assert "".join(logprobs.tokens) == choice.text
    assert logprobs.token_logprobs[0] is None  # nothing precedes the first prompt token
    assert all(value is not None for value in logprobs.token_logprobs[1:])
    assert answer.usage == plain.usage  # the echoed prompt is prompt tokens, not completion tokens
    streamed = "".join(chunk.choices[0].text for chunk in sdk.completions.create(
        model=SMOL, prompt=prompt, echo=True, max_tokens=3, temperature=0, stream=True) if chunk.choices)
    assert streamed == choice.text
