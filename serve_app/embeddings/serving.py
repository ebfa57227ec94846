"""Embeddings: a request is split into slices that Serve spreads across replicas, then reassembled."""

from __future__ import annotations

import asyncio
import base64
from typing import cast

import msgspec
import numpy as np
from starlette.responses import Response

from deployments.embedding_protocol import EmbeddingRequest, EmbeddingResult
from serve_app.embeddings.protocol import EmbeddingCreateRequest
from serve_app.governance.admission import Governance, Usage, prompt_bound
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter

SLICE = 64  # inputs per deployment call


class EmbeddingService:
    def __init__(self, router: ModelRouter, governance: Governance) -> None:
        self._router = router
        self._governance = governance

    async def create(self, body: EmbeddingCreateRequest, key: ApiKey, request_id: str) -> Response:
        engine = self._router.embedder(body.model)
        inputs = body.inputs()
        slices = [inputs[start:start + SLICE] for start in range(0, len(inputs), SLICE)]
        entry = self._router.entry(body.model)
        estimate = sum(prompt_bound(len(item), entry.context_length) if isinstance(item, str) else len(item)
                       for item in inputs)
        ticket = await self._governance.admit(key, body.model, "embeddings", request_id, entry.pricing,
                                              prompt_estimate=estimate)
        with ticket.failures():
            outcomes = await asyncio.gather(*(
                engine.embed(EmbeddingRequest(f"{request_id}-{n}", part, body.dimensions))
                for n, part in enumerate(slices)
            ), return_exceptions=True)
            results = [outcome for outcome in outcomes if isinstance(outcome, EmbeddingResult)]
            tokens = sum(result.prompt_tokens for result in results)
            failed = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
            if failed is not None:
                # Slices run at once; those that were encoded before one failed are metered, not lost.
                ticket.finish(Usage(prompt_tokens=tokens), "error")
                raise failed
        ticket.finish(Usage(prompt_tokens=tokens))
        vectors = np.concatenate([result.vectors for result in results]).astype(np.float32)
        data = [{"object": "embedding", "index": index, "embedding": _encoded(vector, body.encoding_format)}
                for index, vector in enumerate(vectors)]
        # msgspec writes the floats about 12 times faster than json.dumps (7 -> 0.6 ms for 32 inputs of 384
        # dimensions), time the ingress's event loop would otherwise spend away from every other request.
        payload = {"object": "list", "data": data, "model": body.model,
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        response = Response(msgspec.json.encode(payload), media_type="application/json")
        return ticket.annotate(self._router.annotate(response, body.model))


def _encoded(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    """OpenAI's encodings: a list of floats, or the little-endian float32 bytes in base64."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return cast(list[float], vector.tolist())
