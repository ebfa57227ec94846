"""What crosses the handle between the ingress and an embeddings deployment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class EmbeddingRequest:
    request_id: str
    inputs: list[str | list[int]]
    dimensions: int | None = None


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: npt.NDArray[np.float32]  # one row per input
    prompt_tokens: int


@dataclass(frozen=True)
class RerankRequest:
    request_id: str
    query: str
    documents: list[str]


@dataclass(frozen=True)
class RerankResult:
    scores: list[float]  # one per document, in the documents' order, from 0 (unrelated) to 1
    prompt_tokens: int  # as the engine read them: the query once and each document (bi-encoder), or each pair


class EmbeddingEngine(Protocol):
    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult: ...

    async def rerank(self, request: RerankRequest) -> RerankResult: ...

    async def check_health(self) -> None: ...
