"""A reasoning model's thinking comes apart from its answer in the replica (deployments/output_reader.py), with
vLLM's own reasoning parser on a real tokenizer fed token by token as the engine streams; tool calls are read
out of the answer only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deployments.llm_protocol import GenerationRequest, SamplingOptions, ToolCalling
from deployments.output_reader import OutputReader
from serve_app.generation import merge_calls

MODELS = Path(__file__).resolve().parents[2] / ".models"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    folder = MODELS / "tiny-llama"
    if not folder.exists():
        pytest.skip("the local models are not prepared (make models)")
    loaded = AutoTokenizer.from_pretrained(str(folder))
    loaded.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})  # as R1's tokenizer has them
    return loaded


def stream(reader: OutputReader, tokenizer: Any, text: str) -> tuple[str, str, dict[int, dict[str, Any]], str | None]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    reasoning, answer, calls, finish = "", "", {}, None
    for position, token_id in enumerate(ids, start=1):
        last = position == len(ids)
        delta = reader.delta(0, tokenizer.decode([token_id]), [token_id], "stop" if last else None, ())
        reasoning += delta.reasoning
        answer += delta.text
        merge_calls(calls, delta.tool_calls)
        finish = delta.finish_reason
    return reasoning, answer, calls, finish


def request(tools: ToolCalling | None = None) -> GenerationRequest:
    return GenerationRequest("r", SamplingOptions(), messages=[{"role": "user", "content": "2+2?"}], tools=tools)


def test_reasoning_comes_apart_from_the_answer_and_is_counted(tokenizer: Any) -> None:
    reader = OutputReader(request(), "m", None, "deepseek_r1", tokenizer)
    reasoning, answer, calls, _ = stream(reader, tokenizer, "<think>Two and two make four.</think>The answer is 4.")
    assert reasoning.strip() == "Two and two make four."
    assert answer.strip() == "The answer is 4."
    assert calls == {}
    thought = len(tokenizer.encode("Two and two make four.", add_special_tokens=False))
    assert reader.reasoning_tokens == thought
    assert reader.reads_special_tokens  # the markers must reach the parser


def test_tool_calls_are_read_from_the_answer_after_the_reasoning(tokenizer: Any) -> None:
    reader = OutputReader(request(ToolCalling([WEATHER], "auto")), "m", "hermes", "deepseek_r1", tokenizer)
    reasoning, answer, calls, finish = stream(
        reader, tokenizer, '<think>I need the weather.</think><tool_call>\n{"name": "get_weather", "arguments": '
                           '{"city": "Paris"}}\n</tool_call>')
    assert reasoning.strip() == "I need the weather."
    assert answer.strip() == ""
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert finish == "tool_calls"


def test_a_model_without_parsers_passes_its_text_through(tokenizer: Any) -> None:
    reader = OutputReader(request(), "m", None, None, tokenizer)
    reasoning, answer, _, _ = stream(reader, tokenizer, "<think>x</think>y")
    assert reasoning == "" and answer == "<think>x</think>y"
    assert not reader.reads_special_tokens and reader.reasoning_tokens == 0
