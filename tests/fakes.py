"""A stand-in LLM engine for fast unit tests of the ingress (never a substitute for the real engines)."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from deployments.embedding_protocol import EmbeddingRequest, EmbeddingResult, RerankRequest, RerankResult
from deployments.llm_protocol import ChoiceDelta, GenerationChunk, GenerationRequest
from deployments.transcription_protocol import Segment, TranscriptionRequest, TranscriptionResult
from deployments.whisper_engine import check_request
from serve_app.audio.duration import DEFAULT_MAX_AUDIO_SECONDS, check_duration, invalid_audio
from serve_app.errors import InvalidRequestError


def wav(seconds: float = 2.0, rate: int = 4000) -> bytes:
    """A silent 16-bit mono WAV file of ``seconds``, in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


@dataclass
class FakeEmbedder:
    """Embeds each input as a unit vector of ``dimensions`` derived from its words; one token a word."""

    dimensions: int = 8
    max_tokens: int = 16
    calls: list[EmbeddingRequest] = field(default_factory=list)
    reranks: list[RerankRequest] = field(default_factory=list)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self.calls.append(request)
        if request.dimensions not in (None, self.dimensions):
            raise InvalidRequestError("dimensions not supported", param="dimensions")
        rows, tokens = [], 0
        for item in request.inputs:
            words = [str(t) for t in item] if isinstance(item, list) else item.split()
            if len(words) > self.max_tokens:
                raise InvalidRequestError("input too long", param="input", code="context_length_exceeded")
            tokens += len(words)
            row = np.zeros(self.dimensions, dtype=np.float32)
            for word in words:
                row[sum(map(ord, word)) % self.dimensions] += 1
            rows.append(row / max(float(np.linalg.norm(row)), 1e-9))
        return EmbeddingResult(np.stack(rows), tokens)

    async def rerank(self, request: RerankRequest) -> RerankResult:
        """As a bi-encoder does: the cosine of the query's and each document's embeddings, mapped to 0..1."""
        self.reranks.append(request)
        embedded = await self.embed(EmbeddingRequest(request.request_id, [request.query, *request.documents]))
        cosines = embedded.vectors[1:] @ embedded.vectors[0]
        return RerankResult([float((1 + c) / 2) for c in cosines], embedded.prompt_tokens)

    async def check_health(self) -> None:
        return None


@dataclass
class FakeEngine:
    """Answers with ``words``, one token each; counts prompt tokens as whitespace-separated words."""

    words: tuple[str, ...] = ("Paris", " is", " the", " capital", ".")
    context_length: int = 64
    healthy: bool = True
    fail_with: Exception | None = None
    requests: list[GenerationRequest] = field(default_factory=list)
    delay: float = 0.0  # seconds before the first token (requests of a burst are then all in flight together)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self.requests.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        await asyncio.sleep(self.delay)
        texts = [m["content"] for m in request.messages] if request.messages else request.prompts or []
        prompt_tokens = sum(len(t) if isinstance(t, list) else len(t.split()) for t in texts)
        limit = request.sampling.max_tokens or len(self.words)
        if prompt_tokens + limit > self.context_length:
            raise InvalidRequestError("This model's maximum context length is exceeded.", param="max_tokens",
                                      code="context_length_exceeded")
        choices = request.sampling.n * (len(request.prompts) if request.prompts else 1)
        words = self.words[:limit]
        for position, word in enumerate(words, start=1):
            reason = None if position < len(words) else ("length" if limit < len(self.words) else "stop")
            yield GenerationChunk([ChoiceDelta(i, word, reason) for i in range(choices)], prompt_tokens,
                                  position * choices)

    async def check_health(self) -> None:
        if not self.healthy:
            raise RuntimeError("engine is down")


@dataclass
class FakeTranscriber:
    """Transcribes a WAV (decoded in memory with the ``wave`` module) as ``sentences``, one segment each, spread
    over the audio's duration; refuses requests and audio as ``WhisperDeployment`` does. ``decodes_to``: every
    file decodes to that many seconds, whatever its container says (a file that lies about its length);
    ``release``: each transcription waits for it once its audio is decoded (a transcription in progress)."""

    sentences: tuple[str, ...] = (" Hello world.", " This is a test.")
    multilingual: bool = True
    model_id: str = "fake-whisper"
    healthy: bool = True
    decodes_to: float | None = None
    release: asyncio.Event | None = None
    requests: list[TranscriptionRequest] = field(default_factory=list)

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        self.requests.append(request)
        check_request(self.model_id, self.multilingual, request)
        try:
            with wave.open(io.BytesIO(request.audio)) as audio:
                duration = audio.getnframes() / audio.getframerate()
        except (wave.Error, EOFError):
            raise invalid_audio() from None
        duration = duration if self.decodes_to is None else self.decodes_to
        check_duration(duration, DEFAULT_MAX_AUDIO_SECONDS, request.max_seconds)
        if self.release is not None:
            await self.release.wait()
        step = duration / len(self.sentences)
        segments = [Segment(id=i, seek=0, start=round(i * step, 3), end=round((i + 1) * step, 3), text=text,
                            tokens=[50364 + i], avg_logprob=-0.25, compression_ratio=1.1, no_speech_prob=0.01)
                    for i, text in enumerate(self.sentences)]
        text = "".join(self.sentences).strip()
        return TranscriptionResult(text=text, language=request.language or "en", duration=duration, segments=segments)

    async def check_health(self) -> None:
        if not self.healthy:
            raise RuntimeError("engine is down")
