"""Rerank: the query and the documents guarded as user text, admitted against the key's limits, scored by the
model's replica, answered in Cohere's shape (results sorted by relevance) and metered per token as the engine
counted them."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse, Response

from deployments.embedding_protocol import RerankRequest
from serve_app.governance.admission import Governance, Usage, prompt_bound
from serve_app.guardrails.gate import GuardGate
from serve_app.keys import ApiKey
from serve_app.rerank.protocol import RerankCreateRequest
from serve_app.routing import ModelRouter


class RerankService:
    def __init__(self, router: ModelRouter, governance: Governance, gate: GuardGate) -> None:
        self._router = router
        self._governance = governance
        self._gate = gate

    async def create(self, body: RerankCreateRequest, key: ApiKey, request_id: str) -> Response:
        engine = self._router.reranker(body.model)
        entry = self._router.entry(body.model)
        texts = body.texts()
        # A cross-encoder reads the query once per document: reserve that much.
        query = prompt_bound(len(body.query), entry.context_length)
        estimate = sum(query + prompt_bound(len(text), entry.context_length) for text in texts)
        quotas = await self._governance.quotas(key)
        ticket = await self._governance.admit(key, body.model, "rerank", request_id, entry.pricing,
                                              prompt_estimate=estimate, quotas=quotas)
        # Each text on its own: documents are retrieved content, where indirect prompt injection comes from.
        conversations = [[("user", body.query)], *([("user", text)] for text in texts)]
        await self._gate.apply(ticket, quotas.guard, conversations, model=body.model, param="documents")
        with ticket.failures():
            result = await engine.rerank(RerankRequest(request_id, body.query, texts))
        ticket.finish(Usage(prompt_tokens=result.prompt_tokens))
        ranked = sorted(range(len(texts)), key=lambda index: (-result.scores[index], index))
        results: list[dict[str, Any]] = []
        for index in ranked[:body.top_n or len(texts)]:
            item: dict[str, Any] = {"index": index, "relevance_score": result.scores[index]}
            if body.return_documents:
                item["document"] = {"text": texts[index]}
            results.append(item)
        tokens = result.prompt_tokens
        payload = {"id": "rerank-" + uuid.uuid4().hex, "model": body.model, "results": results,
                   "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1},
                            "tokens": {"input_tokens": tokens, "output_tokens": 0}},
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return ticket.annotate(self._router.annotate(JSONResponse(payload), body.model))
