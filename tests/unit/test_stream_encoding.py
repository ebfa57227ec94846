"""The streamed chunks' fast JSON encoding says exactly what OpenAI's own chunk type would."""

from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletionChunk

from serve_app.chat.serving import _chunk_encoder
from serve_app.generation_step import Answer


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("choices", [
    [{"index": 0, "delta": {"content": " Paris"}, "finish_reason": None}],
    [{"index": 0, "delta": {"content": "é\"\\\n😀 東京"}, "finish_reason": "stop"}],
    [{"index": 0, "delta": {}, "finish_reason": "length"},
     {"index": 1, "delta": {"content": "x"}, "finish_reason": None}],
    [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                            "function": {"name": "get_weather", "arguments": ""}}]},
      "finish_reason": None}],
    [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": "}}]},
      "finish_reason": "tool_calls"}],
    [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None,
      "logprobs": {"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
                                "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}]}],
                   "refusal": None}}],
])
def test_a_text_chunk_is_the_chunk_type_openai_defines(choices: list[dict[str, object]], include_usage: bool) -> None:
    encoded = _chunk_encoder(Answer("chatcmpl-1", 1_764_000_000, "modèle/é"), include_usage)(choices)
    parsed = ChatCompletionChunk.model_validate_json(encoded)
    expected = ChatCompletionChunk.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_764_000_000, "model": "modèle/é",
        "choices": choices, **({"usage": None} if include_usage else {})})
    assert parsed == expected
    assert json.loads(encoded) == json.loads(expected.model_dump_json(exclude_unset=True))


def test_the_usage_chunk_is_the_chunk_type_openai_defines() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    encoded = _chunk_encoder(Answer("chatcmpl-1", 1_764_000_000, "m"), True)([], usage)
    parsed = ChatCompletionChunk.model_validate_json(encoded)
    assert parsed.choices == [] and parsed.usage is not None and parsed.usage.total_tokens == 7
