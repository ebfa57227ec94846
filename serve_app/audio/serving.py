"""Transcriptions and translations: from validated form fields and the audio bytes to an engine call.

Billing holds however the request ends. The file's duration, read from its container before any decoding,
is reserved at admission (so concurrent uploads cannot pass a key's audio minutes together), and the model's
replica transcribes no more than that. The engine call runs as a task of its own that a client's leaving
does not cancel: it is then metered when the call ends, for the audio transcribed, outcome ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools

from starlette.responses import Response

from deployments.transcription_protocol import TranscriptionEngine, TranscriptionRequest, TranscriptionResult
from serve_app.audio.duration import check_duration, container_seconds, max_audio_seconds, tolerated
from serve_app.audio.formats import Task, billed_seconds, render
from serve_app.audio.protocol import CreateTranscriptionRequest, CreateTranslationRequest
from serve_app.governance.admission import Governance, Ticket, Usage
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter


class TranscriptionService:
    def __init__(self, router: ModelRouter, governance: Governance) -> None:
        self._router = router
        self._governance = governance
        self._calls: set[asyncio.Task[TranscriptionResult]] = set()  # engine calls, kept alive until they end

    async def transcribe(self, body: CreateTranscriptionRequest, audio: bytes, key: ApiKey,
                         request_id: str) -> Response:
        return await self._run(body, audio, key, request_id, "transcribe", body.language)

    async def translate(self, body: CreateTranslationRequest, audio: bytes, key: ApiKey, request_id: str) -> Response:
        return await self._run(body, audio, key, request_id, "translate", None)

    async def _run(self, body: CreateTranslationRequest, audio: bytes, key: ApiKey, request_id: str, task: Task,
                   language: str | None) -> Response:
        engine = self._router.transcriber(body.model)
        entry = self._router.entry(body.model)
        seconds = await asyncio.to_thread(container_seconds, audio)  # demuxing a large file takes a moment
        check_duration(seconds, max_audio_seconds(entry.engine_args))
        request = TranscriptionRequest(request_id=request_id, audio=audio, task=task, language=language,
                                       prompt=body.prompt or None, temperature=body.temperature,
                                       max_seconds=tolerated(seconds))
        endpoint = "audio.transcriptions" if task == "transcribe" else "audio.translations"
        ticket = await self._governance.admit(key, body.model, endpoint, request_id, entry.pricing,
                                              audio_seconds=seconds)
        result = await self._call(engine, request, ticket)
        ticket.finish(Usage(audio_seconds=billed_seconds(result)))
        return ticket.annotate(self._router.annotate(render(result, body.response_format, task), body.model))

    async def _call(self, engine: TranscriptionEngine, request: TranscriptionRequest,
                    ticket: Ticket) -> TranscriptionResult:
        """The engine's result. If this request is cancelled first (its client left), the call goes on and
        the ticket is finished when it ends; if the call fails, the request is metered as an error."""
        # An empty context: made in the request's, the call would be one of its children, which Serve cancels
        # with it when its client leaves (even under an internal request id of its own, as tried).
        call = asyncio.create_task(engine.transcribe(request), context=contextvars.Context())
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            call.add_done_callback(functools.partial(_finish_abandoned, ticket))
            raise
        except Exception:  # any failure of the call (a refusal by the replica too): nothing was consumed
            ticket.finish(Usage(), "error")
            raise


def _finish_abandoned(ticket: Ticket, call: asyncio.Task[TranscriptionResult]) -> None:
    """Meters a call whose request was cancelled, once it ends: the audio it transcribed, or nothing."""
    if call.cancelled():
        ticket.finish(Usage(), "cancelled")
    elif call.exception() is not None:
        ticket.finish(Usage(), "error")
    else:
        ticket.finish(Usage(audio_seconds=billed_seconds(call.result())), "cancelled")
