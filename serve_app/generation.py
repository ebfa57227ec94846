"""Collecting an engine's chunks into whole choices, for answers that are not streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from openai.types import CompletionUsage
from openai.types.completion_usage import CompletionTokensDetails

from deployments.llm_protocol import GenerationChunk


@dataclass
class Collected:
    texts: dict[int, str] = field(default_factory=dict)
    finish_reasons: dict[int, str] = field(default_factory=dict)
    tool_calls: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)  # choice -> call index -> call
    logprobs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # choice -> one entry per token
    reasoning: dict[int, str] = field(default_factory=dict)  # choice -> a reasoning model's thinking
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int | None = None

    def usage(self) -> CompletionUsage:
        return usage(self.prompt_tokens, self.completion_tokens, self.reasoning_tokens)

    def calls(self, index: int) -> list[dict[str, Any]]:
        """Choice ``index``'s tool calls, whole, in order."""
        return [call for _, call in sorted(self.tool_calls.get(index, {}).items())]


def usage(prompt_tokens: int, completion_tokens: int, reasoning_tokens: int | None = None) -> CompletionUsage:
    """OpenAI's usage object; ``completion_tokens_details.reasoning_tokens`` for a model that reasons."""
    result = CompletionUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                             total_tokens=prompt_tokens + completion_tokens)
    if reasoning_tokens is not None:
        result.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=reasoning_tokens)
    return result


def merge_calls(calls: dict[int, dict[str, Any]], deltas: Iterable[dict[str, Any]]) -> None:
    """Puts streamed tool-call deltas together: id, type and name from the first, argument fragments appended."""
    for delta in deltas:
        call = calls.setdefault(delta.get("index", 0),
                                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        if delta.get("id"):
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] = function["name"]
        call["function"]["arguments"] += function.get("arguments") or ""


async def collect(chunks: AsyncIterator[GenerationChunk], choices: int) -> Collected:
    result = Collected(texts=dict.fromkeys(range(choices), ""))
    async for chunk in chunks:
        for delta in chunk.choices:
            result.texts[delta.index] = result.texts.get(delta.index, "") + delta.text
            if delta.finish_reason:
                result.finish_reasons[delta.index] = delta.finish_reason
            if delta.tool_calls:
                merge_calls(result.tool_calls.setdefault(delta.index, {}), delta.tool_calls)
            if delta.logprobs:
                result.logprobs.setdefault(delta.index, []).extend(delta.logprobs)
            if delta.reasoning:
                result.reasoning[delta.index] = result.reasoning.get(delta.index, "") + delta.reasoning
        result.prompt_tokens = chunk.prompt_tokens
        result.completion_tokens = chunk.completion_tokens
        result.reasoning_tokens = chunk.reasoning_tokens
    return result


async def prepend(first: GenerationChunk, rest: AsyncIterator[GenerationChunk]) -> AsyncIterator[GenerationChunk]:
    """``first``, then the rest: a stream whose first chunk was awaited before the response started."""
    yield first
    async for chunk in rest:
        yield chunk
