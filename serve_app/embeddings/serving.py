"""Embeddings: a request is split into slices that Serve spreads across replicas, then reassembled."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
from starlette.responses import JSONResponse, Response

from deployments.embedding_protocol import EmbeddingRequest
from serve_app.embeddings.protocol import EmbeddingCreateRequest
from serve_app.routing import ModelRouter

SLICE = 64  # inputs per deployment call


class EmbeddingService:
    def __init__(self, router: ModelRouter) -> None:
        self._router = router

    async def create(self, body: EmbeddingCreateRequest, request_id: str) -> Response:
        engine = self._router.embedder(body.model)
        inputs = body.inputs()
        slices = [inputs[start:start + SLICE] for start in range(0, len(inputs), SLICE)]
        results = await asyncio.gather(*(
            engine.embed(EmbeddingRequest(f"{request_id}-{n}", part, body.dimensions)) for n, part in enumerate(slices)
        ))
        vectors = np.concatenate([result.vectors for result in results]).astype(np.float32)
        tokens = sum(result.prompt_tokens for result in results)
        data = [{"object": "embedding", "index": index, "embedding": _encoded(vector, body.encoding_format)}
                for index, vector in enumerate(vectors)]
        response = JSONResponse({"object": "list", "data": data, "model": body.model,
                                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
        return self._router.annotate(response, body.model)


def _encoded(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    """OpenAI's encodings: a list of floats, or the little-endian float32 bytes in base64."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return [float(x) for x in vector]
