"""What crosses the handle between the ingress and an LLM deployment: plain, picklable dataclasses.

An LLM deployment exposes ``generate(GenerationRequest)``, an async generator of
:class:`GenerationChunk`, and ``check_health()``. The ingress never sees engine types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SamplingOptions:
    """OpenAI's sampling parameters; ``None`` means the model's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int = 1
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    json_object: bool = False


@dataclass(frozen=True)
class GenerationRequest:
    """Either chat ``messages`` (rendered with the model's chat template) or raw ``prompts``."""

    request_id: str
    sampling: SamplingOptions
    messages: list[dict[str, Any]] | None = None
    prompts: list[str | list[int]] | None = None


@dataclass(frozen=True)
class ChoiceDelta:
    index: int
    text: str
    finish_reason: str | None = None


@dataclass(frozen=True)
class GenerationChunk:
    """New text for some choices, with the engine's running token counts for the whole request."""

    choices: list[ChoiceDelta]
    prompt_tokens: int
    completion_tokens: int


class LLMEngine(Protocol):
    """The narrow interface the ingress uses; a Serve handle or an in-process stand-in satisfies it."""

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]: ...

    async def check_health(self) -> None: ...
