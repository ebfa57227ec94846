"""Transcriptions and translations: from validated form fields and the audio bytes to an engine call."""

from __future__ import annotations

from starlette.responses import Response

from deployments.transcription_protocol import TranscriptionRequest
from serve_app.audio.formats import Task, render
from serve_app.audio.protocol import CreateTranscriptionRequest, CreateTranslationRequest
from serve_app.routing import ModelRouter


class TranscriptionService:
    def __init__(self, router: ModelRouter) -> None:
        self._router = router

    async def transcribe(self, body: CreateTranscriptionRequest, audio: bytes, request_id: str) -> Response:
        return await self._run(body, audio, request_id, "transcribe", body.language)

    async def translate(self, body: CreateTranslationRequest, audio: bytes, request_id: str) -> Response:
        return await self._run(body, audio, request_id, "translate", None)

    async def _run(self, body: CreateTranslationRequest, audio: bytes, request_id: str, task: Task,
                   language: str | None) -> Response:
        engine = self._router.transcriber(body.model)
        request = TranscriptionRequest(request_id=request_id, audio=audio, task=task, language=language,
                                       prompt=body.prompt or None, temperature=body.temperature)
        result = await engine.transcribe(request)
        return self._router.annotate(render(result, body.response_format, task), body.model)
