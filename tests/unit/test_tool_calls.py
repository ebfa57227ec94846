"""Tool calls read out of a model's text in the replica (deployments/tool_calls.py), with vLLM's own parsers and a
real tokenizer, and put back together as the ingress does (serve_app/generation.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deployments import tool_calls
from deployments.llm_protocol import ToolCalling
from serve_app.generation import merge_calls

MODELS = Path(__file__).resolve().parents[2] / ".models"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    folder = MODELS / "tiny-llama"
    if not folder.exists():
        pytest.skip("the local models are not prepared (make models)")
    return AutoTokenizer.from_pretrained(str(folder))


def feed_in_pieces(extractor: tool_calls.CallExtractor, text: str, size: int) -> tuple[str, dict[int, dict[str, Any]]]:
    content, calls = "", {}
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    for position, piece in enumerate(pieces, start=1):
        new_content, deltas = extractor.feed(piece, [], position == len(pieces))
        content += new_content
        merge_calls(calls, deltas)
    return content, calls


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_hermes_calls_stream_into_whole_calls(tokenizer: Any, size: int) -> None:
    tools = ToolCalling([WEATHER, TIME], "auto")
    request = tool_calls.vllm_request("m", MESSAGES, tools)
    extractor = tool_calls.extractor(tools, "hermes", tokenizer, request)
    assert extractor is not None
    text = ('Let me check.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
            '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>')
    content, calls = feed_in_pieces(extractor, text, size)
    assert content == "Let me check."
    assert [calls[i]["function"]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert json.loads(calls[1]["function"]["arguments"]) == {}
    assert all(call["id"] for call in calls.values())  # vLLM names them chatcmpl-tool-...
    assert extractor.called


def test_plain_text_passes_through_the_parser(tokenizer: Any) -> None:
    tools = ToolCalling([WEATHER], "auto")
    extractor = tool_calls.extractor(tools, "hermes", tokenizer, tool_calls.vllm_request("m", MESSAGES, tools))
    assert extractor is not None
    content, calls = feed_in_pieces(extractor, "It is sunny in Paris.", 4)
    assert content == "It is sunny in Paris." and calls == {}
    assert not extractor.called


def test_a_named_function_streams_its_arguments() -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    tools = ToolCalling([WEATHER, TIME], choice)
    request = tool_calls.vllm_request("m", MESSAGES, tools)
    schema = tool_calls.forced_schema(request)
    assert schema == WEATHER["function"]["parameters"]
    extractor = tool_calls.extractor(tools, "hermes", None, request)
    content, calls = feed_in_pieces(extractor, '{"city": "Paris"}', 3)
    assert content == "" and calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}


def test_required_calls_come_whole_at_the_end() -> None:
    tools = ToolCalling([WEATHER, TIME], "required", parallel=False)
    request = tool_calls.vllm_request("m", MESSAGES, tools)
    schema = tool_calls.forced_schema(request)
    assert schema is not None and schema["type"] == "array" and schema["maxItems"] == 1
    extractor = tool_calls.extractor(tools, "hermes", None, request)
    content, calls = feed_in_pieces(extractor, '[{"name": "get_weather", "parameters": {"city": "Paris"}}]', 5)
    assert content == ""
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


def test_required_output_cut_short_is_content() -> None:
    tools = ToolCalling([WEATHER], "required")
    extractor = tool_calls.extractor(tools, "hermes", None, tool_calls.vllm_request("m", MESSAGES, tools))
    content, calls = feed_in_pieces(extractor, '[{"name": "get_weather", "param', 5)
    assert calls == {} and content == '[{"name": "get_weather", "param'


def test_tool_choice_none_reads_nothing_out() -> None:
    tools = ToolCalling([WEATHER], "none")
    assert tool_calls.extractor(tools, "hermes", None, tool_calls.vllm_request("m", MESSAGES, tools)) is None
