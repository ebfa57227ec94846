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


class EmbeddingEngine(Protocol):
    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult: ...

    async def check_health(self) -> None: ...
