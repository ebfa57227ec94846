"""What crosses the handle between the ingress and a transcription deployment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class TranscriptionRequest:
    request_id: str
    audio: bytes
    task: Literal["transcribe", "translate"] = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    # The most decoded audio the replica may transcribe: what the ingress reserved from the file's container,
    # with a tolerance; longer audio is refused (audio_duration_mismatch). None: only the model's own bound.
    max_seconds: float | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    seek: int  # the offset, in 10 ms frames, of the window the segment was decoded in
    start: float
    end: float
    text: str
    tokens: list[int] = field(default_factory=list)
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class TranscriptionResult:
    text: str
    language: str
    duration: float
    segments: list[Segment]


class TranscriptionEngine(Protocol):
    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult: ...

    async def check_health(self) -> None: ...
