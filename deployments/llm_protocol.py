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
    json_schema: dict[str, Any] | None = None  # structured outputs: the answer follows this JSON schema
    logprobs: int | None = None  # None: none; k: each token's log probability and its k most likely alternatives
    logit_bias: dict[int, float] | None = None
    echo: bool = False  # completions: each choice's text (and log probabilities) start with its prompt's


@dataclass(frozen=True)
class ToolCalling:
    """OpenAI's ``tools`` (function tools, as sent), ``tool_choice`` and ``parallel_tool_calls``."""

    tools: list[dict[str, Any]]
    choice: str | dict[str, Any] = "auto"  # "none" | "auto" | "required" | {"type": "function", "function": {...}}
    parallel: bool | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """Either chat ``messages`` (rendered with the model's chat template) or raw ``prompts``."""

    request_id: str
    sampling: SamplingOptions
    messages: list[dict[str, Any]] | None = None
    prompts: list[str | list[int]] | None = None
    tools: ToolCalling | None = None
    template_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. reasoning_effort, where the template reads it
    background: bool = False  # a batch line: it waits for the replica to be free of interactive requests


@dataclass(frozen=True)
class ChoiceDelta:
    """New output of one choice. ``tool_calls`` are OpenAI's streamed tool-call deltas; ``logprobs`` one entry
    per new token in OpenAI's chat shape (``token``, ``logprob``, ``bytes``, ``top_logprobs``)."""

    index: int
    text: str
    finish_reason: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    logprobs: tuple[dict[str, Any], ...] = ()
    reasoning: str = ""  # a reasoning model's thinking, apart from ``text`` (the answer)


@dataclass(frozen=True)
class GenerationChunk:
    """New text for some choices, with the engine's running token counts for the whole request
    (``reasoning_tokens``: of the completion tokens, those spent reasoning; None for a model that does not)."""

    choices: list[ChoiceDelta]
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int | None = None


class LLMEngine(Protocol):
    """The narrow interface the ingress uses; a Serve handle or an in-process stand-in satisfies it."""

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]: ...

    async def check_health(self) -> None: ...
