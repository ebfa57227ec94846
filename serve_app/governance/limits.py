"""Bounds on one chat or completion request, against model exploitation: how many choices (``n``), how many
output tokens (the key's ``max_tokens_per_request``), how much prompt text, and how long an answer that is
not streamed may take. The body size is bounded earlier, in :mod:`serve_app.http`; open streams per key in
admission (:mod:`serve_app.governance.admission`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

from deployments.llm_protocol import GenerationChunk, GenerationRequest, LLMEngine
from serve_app.errors import GatewayTimeoutError, InvalidRequestError
from serve_app.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class OutputLimit:
    """The ``max_tokens`` to ask the engine for. ``implicit``: the client did not set one and the key's cap
    stands in for it, so the engine may lower it to the room the model's context leaves."""

    max_tokens: int | None
    implicit: bool = False


def output_limit(requested: int | None, cap: int | None, param: str, *, context_length: int) -> OutputLimit:
    """The request's ``max_tokens`` within the key's cap: more than the cap is a 400; none is the cap (or the
    engine's own default, the context's room, when the context is no larger than the cap)."""
    if cap is None:
        return OutputLimit(requested)
    if requested is None:
        return OutputLimit(None) if cap >= context_length else OutputLimit(cap, implicit=True)
    if requested > cap:
        raise InvalidRequestError(
            f"Invalid '{param}': {requested} is too large. This API key may ask for at most {cap} output tokens per "
            f"request; lower '{param}' (or leave it out to get up to {cap}).", param=param,
            code="integer_above_max_value")
    return OutputLimit(requested)


def possible_output(limit: OutputLimit, context_length: int) -> int:
    """The most output tokens one choice may generate, which admission reserves: the request's ``max_tokens``, or,
    when it set none and no cap stands in, all the model's context (the engine stops at the context's end)."""
    return context_length if limit.max_tokens is None else min(limit.max_tokens, context_length)


def check_token_prompt(length: int, context_length: int) -> None:
    """A prompt given as token ids is refused here when it cannot fit the model's context at all."""
    if length >= context_length:
        raise InvalidRequestError(
            f"This model's maximum context length is {context_length} tokens. However, your prompt has {length} "
            "tokens, which leaves no room for the completion. Please reduce the length of the prompt.",
            param="prompt", code="context_length_exceeded")


def generate(engine: LLMEngine, request: GenerationRequest, limit: OutputLimit) -> AsyncIterator[GenerationChunk]:
    """The engine's chunks for ``request``. When the cap stood in for a ``max_tokens`` the client left out and
    the prompt leaves less room than the cap, the engine refuses it; the request is then sent once more
    without ``max_tokens``, so that it gets the room there is (less than the cap) as it would have. Otherwise
    the engine's own stream, with no layer of its own per chunk."""
    if not limit.implicit:
        return engine.generate(request)
    return _with_room_retry(engine, request)


async def _with_room_retry(engine: LLMEngine, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
    chunks = engine.generate(request)
    try:
        first = await anext(chunks)
    except InvalidRequestError as error:
        if (error.code, error.param) != ("context_length_exceeded", "max_tokens"):
            raise
        roomy = dataclasses.replace(request, sampling=dataclasses.replace(request.sampling, max_tokens=None))
        chunks = engine.generate(roomy)
        first = await anext(chunks)
    except StopAsyncIteration:
        return
    yield first
    async for chunk in chunks:
        yield chunk


@dataclass(frozen=True)
class RequestLimits:
    max_n: int
    max_prompt_chars: int
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        return cls(settings.max_n, settings.max_prompt_chars, settings.request_timeout_seconds)

    def check_n(self, n: int) -> None:
        if n > self.max_n:
            raise InvalidRequestError(
                f"Invalid 'n': {n} is too large. This platform generates at most {self.max_n} choices per request.",
                param="n", code="integer_above_max_value")

    def check_prompt(self, characters: int, param: str) -> None:
        if characters > self.max_prompt_chars:
            raise InvalidRequestError(
                f"The request's text is too long: {characters} characters in '{param}', and this platform takes at "
                f"most {self.max_prompt_chars} characters per request. Please reduce the length of '{param}'.",
                param=param, code="context_length_exceeded")

    async def within_timeout(self, work: Awaitable[T]) -> T:
        """``work``'s result, or a 504 when it takes longer than the request timeout (it is cancelled then;
        what the engine generated until then is metered by the cancelled stream)."""
        deadline = asyncio.timeout(self.timeout_seconds)
        try:
            async with deadline:
                return await work
        except TimeoutError:
            if not deadline.expired():
                raise
            raise GatewayTimeoutError(
                f"The request took longer than this platform's limit of {self.timeout_seconds:g} seconds and was "
                "stopped. Ask for fewer tokens (max_tokens), or stream the answer with `stream: true`.",
                code="timeout", headers={"x-should-retry": "false"}) from None
