"""Chat completions: from a validated request to an engine call, answered whole or streamed."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

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
from serve_app.governance.admission import Governance, estimate_tokens
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter
from serve_app.sse import stream_response


class ChatService:
    def __init__(self, router: ModelRouter, images: ImagePolicy, governance: Governance) -> None:
        self._router = router
        self._images = images
        self._governance = governance

    async def create(self, body: ChatCompletionRequest, key: ApiKey, request_id: str) -> Response:
        engine = self._router.llm(body.model, Capability.VISION if body.has_images else Capability.CHAT)
        if body.has_images:
            check_images(body, self._images)
        json_mode = body.response_format is not None and body.response_format.type == "json_object"
        request = GenerationRequest(
            request_id=request_id,
            sampling=body.sampling(max_tokens=body.output_limit, json_object=json_mode),
            messages=body.engine_messages(),
        )
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        ticket = await self._governance.admit(
            key, body.model, "chat.completions", request_id, self._router.entry(body.model).pricing,
            prompt_estimate=estimate_tokens(body.text_characters()),
            max_output_tokens=(body.output_limit or 0) * body.n)
        chunks = ticket.meter_stream(engine.generate(request))
        if body.stream:
            events = _stream_events(chunks, body, completion_id, created)
            return ticket.annotate(self._router.annotate(await stream_response(events, request_id), body.model))
        collected = await collect(chunks, body.n)
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
    first = await anext(chunks)  # an engine error before any token becomes a plain HTTP error
    yield event([ChunkChoice(index=i, delta=ChunkDelta(role="assistant", content=""), finish_reason=None)
                 for i in range(body.n)], **no_usage)
    last = first
    async for chunk in _prepend(first, chunks):
        last = chunk
        choices = [ChunkChoice(index=d.index, delta=ChunkDelta(content=d.text) if d.text else ChunkDelta(),
                               finish_reason=d.finish_reason)  # type: ignore[arg-type]
                   for d in chunk.choices if d.text or d.finish_reason]
        if choices:
            yield event(choices, **no_usage)
    if body.include_usage:
        yield event([], usage=usage(last.prompt_tokens, last.completion_tokens))


async def _prepend(first: GenerationChunk, rest: AsyncIterator[GenerationChunk]) -> AsyncIterator[GenerationChunk]:
    yield first
    async for chunk in rest:
        yield chunk
