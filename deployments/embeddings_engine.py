"""The embeddings family deployment: sentence-transformers.

Inputs are counted and checked with the model's own tokenizer (``embedding_inputs``). Concurrent requests on a
replica are encoded together (``GreedyBatcher``: the texts of every request waiting when the encoder is free);
the ingress splits large requests so they spread across replicas.

Rerank: a cross-encoder (``engine_args: {cross_encoder: true}``, e.g. bge-reranker-v2-m3) scores each
(query, document) pair; an embedding model ranks by the cosine similarity of the query's and each document's
embeddings (a bi-encoder: coarser than a cross-encoder, the same API), mapped to 0..1 as ``(1 + cos) / 2``.
"""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

import numpy as np
from ray import serve

from deployments.embedding_inputs import TokenCounter, check_dimensions, cosine_relevance, shortened
from deployments.embedding_protocol import EmbeddingRequest, EmbeddingResult, RerankRequest, RerankResult
from deployments.greedy_batcher import GreedyBatcher
from deployments.watchdog import EngineStalledError, EngineWatch
from serve_app.catalog import ModelEntry

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MAX_BATCH_TEXTS = 256  # texts per encode call: the waiting requests' texts up to this (a larger request alone)


@serve.deployment(max_ongoing_requests=64)
class EmbeddingDeployment:
    def __init__(self, entry: ModelEntry, stall_seconds: float = 60.0) -> None:
        from sentence_transformers import CrossEncoder, SentenceTransformer

        device = "cuda" if entry.resources.num_gpus else "cpu"
        self._cross: CrossEncoder | None = None
        if entry.engine_args.get("cross_encoder", False):
            self._cross = CrossEncoder(entry.source, device=device)
            self._model: SentenceTransformer = self._cross  # type: ignore[assignment]  # tokenizer, max length
        else:
            self._model = SentenceTransformer(entry.source, device=device)
        # SentenceTransformer's max_seq_length, CrossEncoder's max_length
        model_max = getattr(self._model, "max_seq_length", None) or getattr(self._model, "max_length", None)
        # A copy for counting: a fast tokenizer holds its truncation settings as mutable state, and
        # model.encode (in a worker thread) sets them while requests are counted on the event loop.
        self._counter = TokenCounter(copy.deepcopy(self._model.tokenizer),
                                     min(entry.context_length, model_max or entry.context_length))
        self._native_dimensions = 0 if self._cross else int(self._model.get_sentence_embedding_dimension() or 0)
        self._truncatable = bool(entry.engine_args.get("truncatable_dimensions", False))
        self._batch_size = int(entry.engine_args.get("batch_size", 32))
        self._stall_seconds = stall_seconds
        self._watch = EngineWatch(stall_seconds)  # here only for its fault hook: check_health encodes for real
        self._batcher: GreedyBatcher[str, Any] = GreedyBatcher(self._encode_together, MAX_BATCH_TEXTS)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        check_dimensions(request.dimensions, self._native_dimensions, self._truncatable)
        texts, ids = self._counter.input_ids(request.inputs)
        vectors = await self._encode(texts)
        return EmbeddingResult(vectors=shortened(vectors, request.dimensions, self._native_dimensions),
                               prompt_tokens=sum(map(len, ids)))

    async def rerank(self, request: RerankRequest) -> RerankResult:
        """Each document's relevance to the query, in the documents' order."""
        counter = self._counter
        if self._cross is not None:
            pairs = [(request.query, document) for document in request.documents]
            tokens = sum(counter.count(pair, f"documents[{index}]", f"'documents[{index}]' with the query")
                         for index, pair in enumerate(pairs))
            scores = await asyncio.to_thread(self._cross.predict, pairs, batch_size=self._batch_size,
                                             convert_to_numpy=True, show_progress_bar=False)
            return RerankResult(scores=[float(score) for score in scores], prompt_tokens=tokens)
        tokens = sum(map(len, counter.query_and_document_ids(request.query, request.documents)))
        vectors = await self._encode([request.query, *request.documents])
        return RerankResult(scores=cosine_relevance(vectors), prompt_tokens=tokens)

    async def check_health(self) -> None:
        """Encodes a word through the same batches as requests: a hung encoder never answers."""
        try:
            if self._cross is not None:
                await asyncio.wait_for(self.rerank(RerankRequest("health", "health", ["health"])),
                                       self._stall_seconds)
                return
            await asyncio.wait_for(self._encode(["health"]), self._stall_seconds)
        except TimeoutError:
            raise EngineStalledError(f"the encoder did not answer in {self._stall_seconds:.0f} s") from None

    def stall_for(self, seconds: float) -> None:
        """Fault hook for tests (Serve handle only): hold back every encoding for ``seconds``."""
        self._watch.stall_for(seconds)

    async def _encode(self, texts: list[str]) -> Any:
        """The texts' vectors (a row each), encoded together with those of the other requests waiting."""
        return np.asarray(await self._batcher.submit(texts), dtype=np.float32)

    async def _encode_together(self, texts: list[str]) -> Any:
        await self._watch.hold()
        return await asyncio.to_thread(self._model.encode, texts, batch_size=self._batch_size,
                                       convert_to_numpy=True, show_progress_bar=False)
