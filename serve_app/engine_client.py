"""A model deployment's Serve handle seen through the narrow engine interfaces of deployments/."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from deployments.embedding_protocol import EmbeddingRequest, EmbeddingResult, RerankRequest, RerankResult
from deployments.llm_protocol import GenerationChunk, GenerationRequest
from deployments.transcription_protocol import TranscriptionRequest, TranscriptionResult
from serve_app.errors import unwrap


class DeploymentEngine:
    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle
        self._stream = handle.options(stream=True)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        stream: DeploymentResponseGenerator = self._stream.generate.remote(request)  # type: ignore[assignment]
        try:
            async for chunk in stream:
                yield chunk
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        try:
            return await self._handle.embed.remote(request)
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def rerank(self, request: RerankRequest) -> RerankResult:
        try:
            return await self._handle.rerank.remote(request)
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        try:
            return await self._handle.transcribe.remote(request)
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def check_health(self) -> None:
        await self._handle.check_health.remote()
