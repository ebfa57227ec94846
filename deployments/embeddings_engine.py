"""The embeddings family deployment: sentence-transformers.

Inputs are counted and checked with the model's own tokenizer, so ``usage`` is exact and an input longer
than the model takes is refused rather than silently cut. Concurrent requests on a replica are encoded
together (``serve.batch``); the ingress splits large requests so they spread across replicas.

Rerank: a cross-encoder (``engine_args: {cross_encoder: true}``, e.g. bge-reranker-v2-m3) scores each
(query, document) pair; an embedding model ranks by the cosine similarity of the query's and each document's
embeddings (a bi-encoder: coarser than a cross-encoder, the same API), mapped to 0..1 as ``(1 + cos) / 2``.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
from ray import serve

from deployments.embedding_protocol import EmbeddingRequest, EmbeddingResult, RerankRequest, RerankResult
from deployments.watchdog import EngineStalledError, EngineWatch
from serve_app.catalog import ModelEntry
from serve_app.errors import InvalidRequestError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


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
        self._max_tokens = min(entry.context_length, model_max or entry.context_length)
        self._native_dimensions = 0 if self._cross else int(self._model.get_sentence_embedding_dimension() or 0)
        self._truncatable = bool(entry.engine_args.get("truncatable_dimensions", False))
        self._batch_size = int(entry.engine_args.get("batch_size", 32))
        # A copy for counting: a fast tokenizer holds its truncation settings as mutable state, and
        # model.encode (in a worker thread) sets them while requests are counted on the event loop.
        self._counting_tokenizer = copy.deepcopy(self._model.tokenizer)
        self._stall_seconds = stall_seconds
        self._watch = EngineWatch(stall_seconds)  # here only for its fault hook: check_health encodes for real

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self._check_dimensions(request.dimensions)
        texts, tokens = self._texts_and_tokens(request.inputs)
        vectors = await self._encode(texts)
        if request.dimensions is not None and request.dimensions < self._native_dimensions:
            vectors = _truncated(vectors, request.dimensions)
        return EmbeddingResult(vectors=vectors, prompt_tokens=tokens)

    async def rerank(self, request: RerankRequest) -> RerankResult:
        """Each document's relevance to the query, in the documents' order."""
        if self._cross is not None:
            pairs = [(request.query, document) for document in request.documents]
            tokens = sum(self._count(pair, f"documents[{index}]", f"'documents[{index}]' with the query")
                         for index, pair in enumerate(pairs))
            scores = await asyncio.to_thread(self._cross.predict, pairs, batch_size=self._batch_size,
                                             convert_to_numpy=True, show_progress_bar=False)
            return RerankResult(scores=[float(score) for score in scores], prompt_tokens=tokens)
        texts = [request.query, *request.documents]
        params = ["query", *(f"documents[{index}]" for index in range(len(request.documents)))]
        tokens = sum(self._count(text, param, f"'{param}'") for text, param in zip(texts, params, strict=True))
        vectors = await self._encode(texts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.where(norms == 0, 1, norms)
        cosines = unit[1:] @ unit[0]
        return RerankResult(scores=[float((1 + cosine) / 2) for cosine in cosines], prompt_tokens=tokens)

    def _count(self, text: str | tuple[str, str], param: str, what: str) -> int:
        """Tokens of a text (or a query-document pair), as the model reads it; a 400 naming ``param`` beyond
        the model's maximum."""
        encoded = (self._counting_tokenizer(*text, add_special_tokens=True, truncation=False) if isinstance(text, tuple)
                   else self._counting_tokenizer(text, add_special_tokens=True, truncation=False))
        count = len(encoded["input_ids"])
        if count > self._max_tokens:
            raise InvalidRequestError(
                f"{what} is {count} tokens long, more than this model's maximum of {self._max_tokens} tokens. "
                "Shorten or split it.", param=param, code="context_length_exceeded")
        return count

    async def check_health(self) -> None:
        """Encodes a word through the same batch queue as requests: a hung encoder never answers."""
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

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def _encode(self, batches: list[list[str]]) -> list[Any]:
        """Encodes the texts of several concurrent requests in one pass; one array back per request."""
        await self._watch.hold()
        flat = [text for batch in batches for text in batch]
        vectors = await asyncio.to_thread(self._model.encode, flat, batch_size=self._batch_size,
                                          convert_to_numpy=True, show_progress_bar=False)
        bounds = np.cumsum([0, *(len(batch) for batch in batches)])
        return [vectors[start:end].astype(np.float32) for start, end in itertools.pairwise(bounds)]

    def _texts_and_tokens(self, inputs: list[str | list[int]]) -> tuple[list[str], int]:
        tokenizer = self._counting_tokenizer
        texts: list[str] = []
        total = 0
        for index, item in enumerate(inputs):
            if isinstance(item, list):
                if any(token < 0 or token >= tokenizer.vocab_size for token in item):
                    raise InvalidRequestError(f"Input {index} has token ids outside this model's vocabulary "
                                              f"(0 to {tokenizer.vocab_size - 1}).", param="input")
                item = tokenizer.decode(item, skip_special_tokens=True)
            texts.append(item)
            total += self._count(item, "input", f"Input {index}")
        return texts, total

    def _check_dimensions(self, dimensions: int | None) -> None:
        if dimensions is None or dimensions == self._native_dimensions:
            return
        if not self._truncatable or dimensions > self._native_dimensions:
            allowed = f"1 to {self._native_dimensions}" if self._truncatable else str(self._native_dimensions)
            raise InvalidRequestError(f"This model's embeddings have {self._native_dimensions} dimensions; "
                                      f"`dimensions` may be {allowed}.", param="dimensions")


def _truncated(vectors: Any, dimensions: int) -> Any:
    """Matryoshka-style shortening: keep the first dimensions and renormalise to unit length."""
    cut = vectors[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return cut / np.where(norms == 0, 1, norms)
