"""Legacy completions: one or more prompts, answered whole or streamed."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from openai.types import Completion, CompletionChoice
from starlette.responses import JSONResponse, Response

from deployments.llm_protocol import GenerationChunk, GenerationRequest
from serve_app.catalog import Capability
from serve_app.completions.protocol import CompletionRequest
from serve_app.generation import collect, usage
from serve_app.governance.admission import Governance, estimate_tokens
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter
from serve_app.sse import stream_response


class CompletionService:
    def __init__(self, router: ModelRouter, governance: Governance) -> None:
        self._router = router
        self._governance = governance

    async def create(self, body: CompletionRequest, key: ApiKey, request_id: str) -> Response:
        engine = self._router.llm(body.model, Capability.COMPLETIONS)
        prompts = body.prompts()
        request = GenerationRequest(request_id=request_id, sampling=body.sampling(max_tokens=body.max_tokens),
                                    prompts=prompts)
        completion_id = "cmpl-" + uuid.uuid4().hex
        created = int(time.time())
        prompt_estimate = sum(estimate_tokens(len(p)) if isinstance(p, str) else len(p) for p in prompts)
        ticket = await self._governance.admit(
            key, body.model, "completions", request_id, self._router.entry(body.model).pricing,
            prompt_estimate=prompt_estimate, max_output_tokens=(body.max_tokens or 0) * body.n * len(prompts))
        chunks = ticket.meter_stream(engine.generate(request))
        if body.stream:
            events = _stream_events(chunks, body, completion_id, created)
            return ticket.annotate(self._router.annotate(await stream_response(events, request_id), body.model))
        collected = await collect(chunks, len(prompts) * body.n)
        answer = Completion(
            id=completion_id,
            object="text_completion",
            created=created,
            model=body.model,
            choices=[
                CompletionChoice(index=index, text=text, logprobs=None,
                                 finish_reason=collected.finish_reasons.get(index, "stop"))  # type: ignore[arg-type]
                for index, text in sorted(collected.texts.items())
            ],
            usage=collected.usage(),
        )
        response = JSONResponse(answer.model_dump(mode="json", exclude_unset=True))
        return ticket.annotate(self._router.annotate(response, body.model))


async def _stream_events(
    chunks: AsyncIterator[GenerationChunk], body: CompletionRequest, completion_id: str, created: int
) -> AsyncIterator[str]:
    def event(choices: list[CompletionChoice], **extra: object) -> str:
        chunk = Completion(id=completion_id, object="text_completion", created=created, model=body.model,
                           choices=choices, **extra)  # type: ignore[arg-type]
        return chunk.model_dump_json(exclude_unset=True)

    no_usage = {"usage": None} if body.include_usage else {}
    last: GenerationChunk | None = None
    async for chunk in chunks:
        last = chunk
        # model_construct: OpenAI streams `finish_reason: null`, which the SDK's type does not admit.
        choices = [CompletionChoice.model_construct(index=d.index, text=d.text, logprobs=None,
                                                    finish_reason=d.finish_reason)
                   for d in chunk.choices if d.text or d.finish_reason]
        if choices:
            yield event(choices, **no_usage)
    if body.include_usage and last is not None:
        yield event([], usage=usage(last.prompt_tokens, last.completion_tokens))
