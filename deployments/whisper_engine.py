"""The transcription family deployment: faster-whisper (Whisper on CTranslate2).

Audio is decoded in memory (PyAV, inside faster-whisper) and never written anywhere. Decoding and
decoding-by-the-model are blocking, so they run in a worker thread: the replica's event loop stays free
for health checks and the next requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from ray import serve

from deployments.audio_decode import SAMPLE_RATE, decode
from deployments.transcription_protocol import Segment, TranscriptionRequest, TranscriptionResult
from deployments.watchdog import EngineWatch
from serve_app.audio.duration import check_duration, invalid_audio, max_audio_seconds
from serve_app.audio.languages import LANGUAGES
from serve_app.catalog import ModelEntry
from serve_app.errors import InvalidRequestError

if TYPE_CHECKING:
    import numpy as np

# Temperature 0 means: start greedy and raise the temperature when decoding fails (OpenAI's behaviour).
FALLBACK_TEMPERATURES: Final = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def check_request(model_id: str, multilingual: bool, request: TranscriptionRequest) -> None:
    """Refuses what the model cannot do, before any audio is decoded."""
    if request.task == "translate" and not multilingual:
        raise InvalidRequestError(f"The model `{model_id}` is English-only and cannot translate; use a multilingual "
                                  "model.", param="model", code="model_not_supported")
    language = request.language
    if language is not None and language not in LANGUAGES:
        raise InvalidRequestError(f"Unknown language '{language}': use an ISO-639-1 code such as 'en' or 'fr'.",
                                  param="language", code="invalid_language")
    if language not in (None, "en") and not multilingual:
        raise InvalidRequestError(f"The model `{model_id}` is English-only; it cannot transcribe '{language}'.",
                                  param="language", code="unsupported_language")


@serve.deployment(max_ongoing_requests=16)
class WhisperDeployment:
    def __init__(self, entry: ModelEntry, stall_seconds: float = 60.0) -> None:
        from faster_whisper import WhisperModel

        args = entry.engine_args
        self._model = WhisperModel(
            entry.source,
            device="cuda" if entry.resources.num_gpus else "cpu",
            compute_type=args.get("compute_type", "int8"),
            cpu_threads=int(args.get("cpu_threads", 0)),  # 0: OMP_NUM_THREADS (engine_env) decides
            num_workers=int(args.get("num_workers", 1)),
        )
        self._beam_size = int(args.get("beam_size", 5))
        self._max_audio_seconds = max_audio_seconds(args)
        self._model_id = entry.id
        self._multilingual = bool(self._model.model.is_multilingual)
        self._watch = EngineWatch(stall_seconds)

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        check_request(self._model_id, self._multilingual, request)
        self._watch.started()
        await self._watch.hold()
        return await asyncio.to_thread(self._transcribe, request)

    async def check_health(self) -> None:
        """Fails when decoding is hung: requests waited and no segment came out (see the watchdog)."""
        await self._watch.verify(self._transcribe_silence)

    def stall_for(self, seconds: float) -> None:
        """Fault hook for tests (Serve handle only): hold back every transcription for ``seconds``."""
        self._watch.stall_for(seconds)

    async def _transcribe_silence(self) -> None:
        import numpy as np

        await self._watch.hold()
        silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
        await asyncio.to_thread(lambda: list(self._model.transcribe(silence, beam_size=1)[0]))

    def _transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        """Runs in a worker thread. Each decoded segment, and the end (even of a request whose client has gone),
        tells the watch that decoding progresses."""
        try:
            return self._transcribe_audio(request)
        finally:
            self._watch.progressed()

    def _transcribe_audio(self, request: TranscriptionRequest) -> TranscriptionResult:
        bound = min(self._max_audio_seconds, request.max_seconds or self._max_audio_seconds)
        audio = _decode(request.audio, bound)  # stops just past the bound: check_duration then refuses it
        # Never more than the ingress reserved: a file whose container said less than it decodes to is refused.
        check_duration(audio.size / SAMPLE_RATE, self._max_audio_seconds, request.max_seconds)
        temperature = request.temperature or 0.0
        options: dict[str, Any] = {
            "language": request.language,
            "task": request.task,
            "initial_prompt": request.prompt,
            "temperature": temperature if temperature > 0 else list(FALLBACK_TEMPERATURES),
            "beam_size": self._beam_size,
        }
        pieces, info = self._model.transcribe(audio, **options)
        segments = [
            Segment(id=index, seek=piece.seek, start=round(piece.start, 3), end=round(piece.end, 3), text=piece.text,
                    tokens=list(piece.tokens), temperature=piece.temperature or 0.0, avg_logprob=piece.avg_logprob,
                    compression_ratio=piece.compression_ratio, no_speech_prob=piece.no_speech_prob)
            for index, piece in enumerate(self._progressing(pieces))  # decoded as consumed: here, in the thread
        ]
        text = "".join(segment.text for segment in segments).strip()
        return TranscriptionResult(text=text, language=info.language, duration=info.duration, segments=segments)

    def _progressing(self, pieces: Iterable[Any]) -> Iterator[Any]:
        for piece in pieces:
            self._watch.progressed()
            yield piece


def _decode(data: bytes, max_seconds: float) -> np.ndarray:
    """16 kHz mono samples from the uploaded bytes, decoded in memory, never much past ``max_seconds``."""
    import av

    try:
        return decode(data, max_seconds)
    except av.error.FFmpegError:
        raise invalid_audio() from None
    except IndexError:  # PyAV found a container but no audio stream in it (an image, a text file, ...)
        raise invalid_audio() from None
