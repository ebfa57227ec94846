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
from serve_app.governance.admission import Governance, prompt_bound
from serve_app.governance.limits import RequestLimits, check_token_prompt, generate, output_limit, possible_output
from serve_app.guardrails.gate import GuardGate
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter
from serve_app.sse import stream_response


class CompletionService:
    def __init__(self, router: ModelRouter, governance: Governance, limits: RequestLimits, gate: GuardGate) -> None:
        self._router = router
        self._governance = governance
        self._limits = limits
        self._gate = gate

    async def create(self, body: CompletionRequest, key: ApiKey, request_id: str) -> Response:
        engine = self._router.llm(body.model, Capability.COMPLETIONS)
        entry = self._router.entry(body.model)
        self._limits.check_n(body.n)
        prompts = body.prompts()
        texts = [p for p in prompts if isinstance(p, str)]
        self._limits.check_prompt(sum(len(text) for text in texts), "prompt")
        for tokens in (p for p in prompts if isinstance(p, list)):
            check_token_prompt(len(tokens), entry.context_length)
        quotas = self._governance.quotas(key)
        cap = quotas.max_tokens_per_request
        requested = body.max_tokens
        if cap is not None and requested is not None and "max_tokens" not in body.model_fields_set:
            requested = min(requested, cap)  # OpenAI's default of 16, within the key's cap
        limit = output_limit(requested, cap, "max_tokens", context_length=entry.context_length)
        request = GenerationRequest(request_id=request_id, sampling=body.sampling(max_tokens=limit.max_tokens),
                                    prompts=prompts)
        completion_id = "cmpl-" + uuid.uuid4().hex
        created = int(time.time())
        prompt_estimate = sum(prompt_bound(len(p), entry.context_length) if isinstance(p, str) else len(p)
                              for p in prompts)
        ticket = await self._governance.admit(
            key, body.model, "completions", request_id, entry.pricing, prompt_estimate=prompt_estimate,
            max_output_tokens=possible_output(limit, entry.context_length) * body.n * len(prompts),
            stream=body.stream, quotas=quotas)
        # Each prompt is its own request to the model: each is inspected as one user message. Token-id prompts
        # are not inspected (the ingress has no tokenizer to read them).
        await self._gate.apply(ticket, quotas.guard, [[("user", text)] for text in texts], model=body.model,
                               param="prompt")
        chunks = ticket.meter_stream(generate(engine, request, limit))
        if body.stream:
            events = _stream_events(chunks, body, completion_id, created)
            return ticket.annotate(self._router.annotate(await stream_response(events, request_id), body.model))
        collected = await self._limits.within_timeout(collect(chunks, len(prompts) * body.n))
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
