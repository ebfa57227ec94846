"""Transcriptions and translations: from validated form fields and the audio bytes to an engine call."""

from __future__ import annotations

from starlette.responses import Response

from deployments.transcription_protocol import TranscriptionRequest
from serve_app.audio.formats import Task, billed_seconds, render
from serve_app.audio.protocol import CreateTranscriptionRequest, CreateTranslationRequest
from serve_app.governance.admission import Governance, Usage
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter


class TranscriptionService:
    def __init__(self, router: ModelRouter, governance: Governance) -> None:
        self._router = router
        self._governance = governance

    async def transcribe(self, body: CreateTranscriptionRequest, audio: bytes, key: ApiKey,
                         request_id: str) -> Response:
        return await self._run(body, audio, key, request_id, "transcribe", body.language)

    async def translate(self, body: CreateTranslationRequest, audio: bytes, key: ApiKey, request_id: str) -> Response:
        return await self._run(body, audio, key, request_id, "translate", None)

    async def _run(self, body: CreateTranslationRequest, audio: bytes, key: ApiKey, request_id: str, task: Task,
                   language: str | None) -> Response:
        engine = self._router.transcriber(body.model)
        request = TranscriptionRequest(request_id=request_id, audio=audio, task=task, language=language,
                                       prompt=body.prompt or None, temperature=body.temperature)
        endpoint = "audio.transcriptions" if task == "transcribe" else "audio.translations"
        ticket = await self._governance.admit(key, body.model, endpoint, request_id,
                                              self._router.entry(body.model).pricing)
        with ticket.failures():
            result = await engine.transcribe(request)
        ticket.finish(Usage(audio_seconds=billed_seconds(result)))
        return ticket.annotate(self._router.annotate(render(result, body.response_format, task), body.model))
