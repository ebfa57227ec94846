"""Chat completions: from a validated request to an engine call, answered whole or streamed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta as ChunkDelta
from openai.types.chat.chat_completion_message import ChatCompletionMessage
from starlette.responses import JSONResponse, Response

from deployments.llm_protocol import GenerationChunk, GenerationRequest
from serve_app.catalog import Capability
from serve_app.chat.images import ImagePolicy, check_images
from serve_app.chat.protocol import ChatCompletionRequest
from serve_app.generation import collect, usage
from serve_app.governance.admission import Governance, chat_added_tokens, prompt_bound
from serve_app.governance.limits import RequestLimits, generate, output_limit, possible_output
from serve_app.guardrails.gate import GuardGate
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter
from serve_app.sse import stream_response


class ChatService:
    def __init__(self, router: ModelRouter, images: ImagePolicy, governance: Governance, limits: RequestLimits,
                 gate: GuardGate) -> None:
        self._router = router
        self._images = images
        self._governance = governance
        self._limits = limits
        self._gate = gate

    async def create(self, body: ChatCompletionRequest, key: ApiKey, request_id: str) -> Response:
        engine = self._router.llm(body.model, Capability.VISION if body.has_images else Capability.CHAT)
        entry = self._router.entry(body.model)
        self._limits.check_n(body.n)
        characters = body.text_characters()
        self._limits.check_prompt(characters, "messages")
        if body.has_images:
            check_images(body, self._images)
        quotas = self._governance.quotas(key)
        limit = output_limit(body.output_limit, quotas.max_tokens_per_request,
                             "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens",
                             context_length=entry.context_length)
        json_mode = body.response_format is not None and body.response_format.type == "json_object"
        request = GenerationRequest(
            request_id=request_id,
            sampling=body.sampling(max_tokens=limit.max_tokens, json_object=json_mode),
            messages=body.engine_messages(),
        )
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        ticket = await self._governance.admit(
            key, body.model, "chat.completions", request_id, entry.pricing,
            prompt_estimate=(entry.context_length if body.has_images else  # an image's tokens: up to the context
                             prompt_bound(characters, entry.context_length, chat_added_tokens(len(body.messages)))),
            max_output_tokens=possible_output(limit, entry.context_length) * body.n,
            stream=body.stream, quotas=quotas)
        await self._gate.apply(ticket, quotas.guard, [body.guard_messages()], model=body.model, param="messages")
        chunks = ticket.meter_stream(generate(engine, request, limit))
        if body.stream:
            events = _stream_events(chunks, body, completion_id, created)
            return ticket.annotate(self._router.annotate(await stream_response(events, request_id), body.model))
        collected = await self._limits.within_timeout(collect(chunks, body.n))
        answer = ChatCompletion(
            id=completion_id,
            object="chat.completion",
            created=created,
            model=body.model,
            choices=[
                Choice(index=index, message=ChatCompletionMessage(role="assistant", content=text),
                       finish_reason=collected.finish_reasons.get(index, "stop"), logprobs=None)  # type: ignore[arg-type]
                for index, text in sorted(collected.texts.items())
            ],
            usage=collected.usage(),
        )
        response = JSONResponse(answer.model_dump(mode="json", exclude_unset=True))
        return ticket.annotate(self._router.annotate(response, body.model))


async def _stream_events(
    chunks: AsyncIterator[GenerationChunk], body: ChatCompletionRequest, completion_id: str, created: int
) -> AsyncIterator[str]:
    def event(choices: list[ChunkChoice], **extra: object) -> str:
        chunk = ChatCompletionChunk(id=completion_id, object="chat.completion.chunk", created=created,
                                    model=body.model, choices=choices, **extra)  # type: ignore[arg-type]
        return chunk.model_dump_json(exclude_unset=True)

    no_usage = {"usage": None} if body.include_usage else {}
    delta_event = _delta_encoder(completion_id, created, body.model, body.include_usage)
    first = await anext(chunks)  # an engine error before any token becomes a plain HTTP error
    yield event([ChunkChoice(index=i, delta=ChunkDelta(role="assistant", content=""), finish_reason=None)
                 for i in range(body.n)], **no_usage)
    last = first
    async for chunk in _prepend(first, chunks):
        last = chunk
        choices = [{"index": d.index, "delta": {"content": d.text} if d.text else {}, "finish_reason": d.finish_reason}
                   for d in chunk.choices if d.text or d.finish_reason]
        if choices:
            yield delta_event(choices)
    if body.include_usage:
        yield event([], usage=usage(last.prompt_tokens, last.completion_tokens))


def _delta_encoder(completion_id: str, created: int, model: str,
                   include_usage: bool) -> Callable[[list[dict[str, Any]]], str]:
    """Encodes the chunks that carry new text: the same JSON as ``ChatCompletionChunk`` would dump, built
    from plain values around a prefix encoded once per stream (it runs for every token of every stream)."""
    head = json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model},
                      ensure_ascii=False, separators=(",", ":"))[:-1] + ',"choices":'
    tail = ',"usage":null}' if include_usage else "}"

    def encode(choices: list[dict[str, Any]]) -> str:
        return head + json.dumps(choices, ensure_ascii=False, separators=(",", ":")) + tail

    return encode


async def _prepend(first: GenerationChunk, rest: AsyncIterator[GenerationChunk]) -> AsyncIterator[GenerationChunk]:
    yield first
    async for chunk in rest:
        yield chunk
