"""Legacy completions: what the shared generation step needs of a completions request, and the answer and stream
chunks in OpenAI's shapes (log probabilities included)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response

from deployments.llm_protocol import GenerationChunk, GenerationRequest
from serve_app.catalog import Capability, ModelEntry
from serve_app.completions.protocol import CompletionRequest
from serve_app.generation import Collected, usage
from serve_app.generation_step import Answer, GenerationStep, Plan
from serve_app.governance.admission import prompt_bound
from serve_app.governance.limits import check_token_prompt
from serve_app.keys import ApiKey


class CompletionService:
    def __init__(self, step: GenerationStep) -> None:
        self._step = step

    async def create(self, body: CompletionRequest, key: ApiKey, request_id: str) -> Response:
        return await self._step.run(CompletionEndpoint(body), key, request_id)


class CompletionEndpoint:
    def __init__(self, body: CompletionRequest) -> None:
        self._body = body
        self._prompts = body.prompts()
        self._texts = [p for p in self._prompts if isinstance(p, str)]

    def plan(self) -> Plan:
        body = self._body
        # Each prompt is its own request to the model: each is inspected as one user message. Token-id prompts
        # are not inspected (the ingress has no tokenizer to read them).
        return Plan(model=body.model, operation="completions", capability=Capability.COMPLETIONS, id_prefix="cmpl-",
                    stream=body.stream, n=body.n, choices=body.n * len(self._prompts), prompt_param="prompt",
                    prompt_characters=sum(len(text) for text in self._texts),
                    guard=[[("user", text)] for text in self._texts])

    def check(self, entry: ModelEntry) -> None:
        for tokens in (p for p in self._prompts if isinstance(p, list)):
            check_token_prompt(len(tokens), entry.context_length)

    async def prepare(self) -> None:
        """Nothing to fetch: a completion's prompt is all in its body."""

    def requested_output(self, cap: int | None) -> tuple[int | None, str]:
        requested = self._body.max_tokens
        if cap is not None and requested is not None and "max_tokens" not in self._body.model_fields_set:
            requested = min(requested, cap)  # OpenAI's default of 16, within the key's cap
        return requested, "max_tokens"

    def prompt_estimate(self, entry: ModelEntry) -> int:
        return sum(prompt_bound(len(p), entry.context_length) if isinstance(p, str) else len(p)
                   for p in self._prompts)

    def request(self, request_id: str, max_tokens: int | None) -> GenerationRequest:
        return GenerationRequest(request_id=request_id,
                                 sampling=self._body.sampling(max_tokens=max_tokens, logprobs=self._body.logprobs,
                                                              echo=self._body.echo),
                                 prompts=self._prompts)

    def answer(self, collected: Collected, ids: Answer) -> dict[str, Any]:
        logprobs = self._body.logprobs is not None
        choices = [{"index": index, "text": text,
                    "logprobs": completion_logprobs(collected.logprobs.get(index, []), 0) if logprobs else None,
                    "finish_reason": collected.finish_reasons.get(index, "stop")}
                   for index, text in sorted(collected.texts.items())]
        return {"id": ids.id, "object": "text_completion", "created": ids.created, "model": ids.model,
                "choices": choices, "usage": collected.usage().model_dump(exclude_unset=True)}

    async def events(self, chunks: AsyncIterator[GenerationChunk], ids: Answer) -> AsyncIterator[str]:
        body = self._body
        head = {"id": ids.id, "object": "text_completion", "created": ids.created, "model": ids.model}
        extra = {"usage": None} if body.include_usage else {}
        logprobs = body.logprobs is not None
        offsets: dict[int, int] = {}  # choice -> characters of text sent so far (logprobs' text_offset)
        last: GenerationChunk | None = None
        async for chunk in chunks:
            last = chunk
            choices = []
            for d in chunk.choices:
                if not (d.text or d.finish_reason):
                    continue
                entries = None
                if logprobs:
                    entries = completion_logprobs(list(d.logprobs), offsets.get(d.index, 0))
                    offsets[d.index] = offsets.get(d.index, 0) + len(d.text)
                choices.append({"index": d.index, "text": d.text, "logprobs": entries,
                                "finish_reason": d.finish_reason})
            if choices:
                yield json.dumps({**head, "choices": choices, **extra}, ensure_ascii=False, separators=(",", ":"))
        if body.include_usage and last is not None:
            final = usage(last.prompt_tokens, last.completion_tokens).model_dump(exclude_unset=True)
            yield json.dumps({**head, "choices": [], "usage": final}, separators=(",", ":"))


def completion_logprobs(entries: list[dict[str, Any]], offset: int) -> dict[str, Any]:
    """Chat-shaped token entries as the completions API shapes them: parallel lists, top alternatives as maps,
    ``text_offset`` counted from ``offset`` characters (the prompt's tokens first where it is echoed)."""
    offsets = []
    for entry in entries:
        offsets.append(offset)
        offset += len(entry["token"])
    return {"tokens": [entry["token"] for entry in entries],
            "token_logprobs": [entry["logprob"] for entry in entries],
            # The first token of an echoed prompt has no log probability, and no alternatives: null, as OpenAI.
            "top_logprobs": [None if entry["logprob"] is None else {top["token"]: top["logprob"]
                                                                    for top in entry["top_logprobs"]}
                             for entry in entries],
            "text_offset": offsets}
