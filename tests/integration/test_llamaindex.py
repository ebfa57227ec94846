"""LlamaIndex's ``OpenAILike`` pointed at the platform, unmodified: a function-calling round trip (tool call, tool
result, final answer) and a streamed tool call. LlamaIndex runs from ``.venv-clients`` (``make test-clients``):
its pins cannot live beside vLLM's, and users' programs reach the platform over HTTP only anyway."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Platform
from tests.support.clients import run_client

pytestmark = pytest.mark.integration


def test_a_function_calling_round_trip_through_openai_like(platform: Platform, api_key: str) -> None:
    seen = run_client("tests.clients.llamaindex_round_trip", platform, api_key)
    calls = seen["calls"]
    assert isinstance(calls, list) and len(calls) == 1
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert isinstance(calls[0]["kwargs"]["city"], str) and calls[0]["kwargs"]["city"]
    assert seen["tool_results"] == [f"It is sunny and 21 degrees Celsius in {calls[0]['kwargs']['city']}."]
    assert isinstance(seen["final"], str) and seen["final"].strip()
    usage = seen["final_usage"]
    assert isinstance(usage, dict) and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    streamed = seen["streamed_calls"]
    assert isinstance(streamed, list) and len(streamed) == 1 and streamed[0]["name"] == "get_weather"
    assert isinstance(streamed[0]["kwargs"]["city"], str)
