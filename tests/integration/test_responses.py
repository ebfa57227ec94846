"""The Responses API on the real platform (SmolLM2 on real vLLM) through the official `openai` SDK:
``responses.create`` streamed and not, a function tool round trip, structured output with ``responses.parse``,
usage equal to the chat endpoint's for the same conversation, and the ledger's record."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
from pydantic import BaseModel, Field
from sqlalchemy import text

from tests.integration.conftest import Platform
from tests.support.clients import AGENTS_PYTHON, run_client

pytestmark = pytest.mark.integration

SMOL = "SmolLM2-135M-Instruct"
QUESTION = "What is the capital of France?"
WEATHER: Any = {"type": "function", "name": "get_weather", "description": "Get the current weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


class City(BaseModel):
    name: str = Field(max_length=24)
    country: str = Field(max_length=24)


def test_a_response_answers_and_counts_as_chat_does(sdk: openai.OpenAI, platform: Platform) -> None:
    response = sdk.responses.with_raw_response.create(model=SMOL, input=QUESTION, max_output_tokens=20,
                                                      temperature=0)
    parsed = response.parse()
    assert "Paris" in parsed.output_text and parsed.store is False
    chat = sdk.chat.completions.create(model=SMOL, messages=[{"role": "user", "content": QUESTION}], max_tokens=20,
                                       temperature=0)
    assert chat.usage is not None and parsed.usage is not None
    assert parsed.usage.input_tokens == chat.usage.prompt_tokens
    assert parsed.output_text == chat.choices[0].message.content
    request_id = response.headers["x-request-id"]
    deadline = time.monotonic() + 30
    row = None
    while row is None and time.monotonic() < deadline:
        with platform.database.connect() as db:
            row = db.execute(text("SELECT endpoint, prompt_tokens, completion_tokens FROM usage_records "
                                  "WHERE request_id = :r"), {"r": request_id}).first()
        time.sleep(0.3)
    assert row is not None and tuple(row) == ("responses", parsed.usage.input_tokens, parsed.usage.output_tokens)


def test_a_streamed_response(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model=SMOL, input=QUESTION, max_output_tokens=20, temperature=0) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and "Paris" in final.output_text
    assert final.usage is not None and final.usage.output_tokens > 0


def test_a_function_tool_round_trip(sdk: openai.OpenAI) -> None:
    asked = sdk.responses.create(model=SMOL, input="What is the weather in Paris?", tools=[WEATHER],
                                 tool_choice="required", parallel_tool_calls=False, max_output_tokens=60,
                                 temperature=0)
    calls = [item for item in asked.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    city = json.loads(calls[0].arguments)["city"]
    answer = sdk.responses.create(model=SMOL, tools=[WEATHER], max_output_tokens=30, temperature=0, input=[
        {"role": "user", "content": "What is the weather in Paris?"},
        {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": calls[0].arguments},
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": f"Sunny, 21 C in {city}"}])
    assert answer.output_text.strip()


def test_structured_output_with_parse(sdk: openai.OpenAI) -> None:
    parsed = sdk.responses.parse(model=SMOL, input="Name a city in France and its country.", text_format=City,
                                 max_output_tokens=60, temperature=0)
    assert isinstance(parsed.output_parsed, City)


def test_the_openai_agents_sdk(platform: Platform, api_key: str) -> None:
    """A plain agent, an agent whose function tool is called (its output ends the run), and that agent streamed."""
    seen = run_client("tests.clients.agents_run", platform, api_key, python=AGENTS_PYTHON)
    assert isinstance(seen["plain"], str) and "Paris" in seen["plain"]
    assert seen["tool"].startswith("Sunny, 21 C in ")
    assert "tool_call_item" in seen["tool_items"] and "tool_call_output_item" in seen["tool_items"]
    assert seen["streamed"].startswith("Sunny, 21 C in ")
    assert "raw_response_event" in seen["stream_event_kinds"]
