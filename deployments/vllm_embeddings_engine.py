"""The embeddings family on vLLM's pooling runner (catalog ``engine: vllm-pooling``).

The same model folder as sentence-transformers (vLLM reads its ``modules.json``: pooling, normalisation),
the same vectors (cosine 1.0000000 to sentence-transformers' on MiniLM), and on these CPUs about 1.2 times
its inputs per second (benchmarks/README.md): the engine batches the inputs of concurrent requests into its
steps as it does a chat model's. Inputs are counted and checked with the model's tokenizer before they reach
the engine (``embedding_inputs``), and the engine gets those token ids: each input is tokenized once, and
``usage`` is the same as with sentence-transformers.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
from ray import serve

from deployments.embedding_inputs import TokenCounter, check_dimensions, cosine_relevance, shortened
from deployments.embedding_protocol import EmbeddingRequest, EmbeddingResult, RerankRequest, RerankResult
from deployments.watchdog import EngineWatch
from serve_app.catalog import ModelEntry

if TYPE_CHECKING:
    from vllm import PoolingParams

OWN_ARGS = {"truncatable_dimensions"}  # catalog engine_args read here, not vLLM's


@serve.deployment(max_ongoing_requests=64)
class VLLMEmbeddingDeployment:
    def __init__(self, entry: ModelEntry, stall_seconds: float = 60.0) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        engine_args = {name: value for name, value in entry.engine_args.items() if name not in OWN_ARGS}
        args = AsyncEngineArgs(model=entry.source, served_model_name=[entry.id], runner="pooling",
                               max_model_len=entry.context_length, enable_log_requests=False,
                               disable_log_stats=True, **engine_args)
        self._engine = AsyncLLM.from_engine_args(args)
        self._counter = TokenCounter(self._engine.renderer.tokenizer, entry.context_length)
        config = self._engine.model_config
        self._native_dimensions = int(config.embedding_size)
        self._truncatable = bool(entry.engine_args.get("truncatable_dimensions", config.is_matryoshka))
        self._watch = EngineWatch(stall_seconds)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        check_dimensions(request.dimensions, self._native_dimensions, self._truncatable)
        _, ids = self._counter.input_ids(request.inputs)
        vectors = await self._encode(ids, request.request_id)
        return EmbeddingResult(vectors=shortened(vectors, request.dimensions, self._native_dimensions),
                               prompt_tokens=sum(map(len, ids)))

    async def rerank(self, request: RerankRequest) -> RerankResult:
        """Each document's relevance to the query (a bi-encoder: the cosine of their embeddings)."""
        ids = self._counter.query_and_document_ids(request.query, request.documents)
        vectors = await self._encode(ids, request.request_id)
        return RerankResult(scores=cosine_relevance(vectors), prompt_tokens=sum(map(len, ids)))

    async def check_health(self) -> None:
        """Fails when the engine is dead, or hung: requests waited for vectors that never came (see watchdog)."""
        await self._engine.check_health()
        await self._watch.verify(self._one_vector)

    def stall_for(self, seconds: float) -> None:
        """Fault hook for tests (Serve handle only): hold back every vector for ``seconds``, as a hung engine."""
        self._watch.stall_for(seconds)

    async def _one_vector(self) -> None:
        await self._encode([self._counter.ids("health", "input", "health")], f"health-{uuid.uuid4().hex}")

    async def _encode(self, ids: list[list[int]], request_id: str) -> Any:
        """One vector per input, in order: each input is a request of the engine's, batched with all others."""
        self._watch.started()
        rows = await asyncio.gather(*(self._pooled(tokens, f"{request_id}-{index}")
                                      for index, tokens in enumerate(ids)))
        await self._watch.hold()
        self._watch.progressed()
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self._native_dimensions), np.float32)

    async def _pooled(self, tokens: list[int], request_id: str) -> Any:
        final = None
        async for output in self._engine.encode({"prompt_token_ids": tokens}, self._params(), request_id):
            final = output
        if final is None:
            raise RuntimeError("the engine ended the request without a vector")
        return final.outputs.data.float().numpy()

    @staticmethod
    def _params() -> PoolingParams:
        from vllm import PoolingParams

        return PoolingParams(task="embed")
