"""Collecting an engine's chunks into whole choices, for answers that are not streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from openai.types import CompletionUsage

from deployments.llm_protocol import GenerationChunk


@dataclass
class Collected:
    texts: dict[int, str] = field(default_factory=dict)
    finish_reasons: dict[int, str] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def usage(self) -> CompletionUsage:
        return usage(self.prompt_tokens, self.completion_tokens)


def usage(prompt_tokens: int, completion_tokens: int) -> CompletionUsage:
    return CompletionUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                           total_tokens=prompt_tokens + completion_tokens)


async def collect(chunks: AsyncIterator[GenerationChunk], choices: int) -> Collected:
    result = Collected(texts=dict.fromkeys(range(choices), ""))
    async for chunk in chunks:
        for delta in chunk.choices:
            result.texts[delta.index] = result.texts.get(delta.index, "") + delta.text
            if delta.finish_reason:
                result.finish_reasons[delta.index] = delta.finish_reason
        result.prompt_tokens = chunk.prompt_tokens
        result.completion_tokens = chunk.completion_tokens
    return result
