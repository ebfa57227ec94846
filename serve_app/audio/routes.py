"""Routes for ``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations`` (multipart forms)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serve_app.audio.protocol import CreateTranscriptionRequest, CreateTranslationRequest
from serve_app.audio.serving import TranscriptionService
from serve_app.auth import Authenticator
from serve_app.errors import InvalidRequestError
from serve_app.multipart import FORM_OVERHEAD_BYTES, Upload, read_form

PREFIX = "/v1/audio/"


def body_limit(max_body_bytes: int, max_audio_bytes: int) -> int:
    """The request body limit under ``/v1/audio/``: room for a file of ``max_audio_bytes`` and its form."""
    return max(max_body_bytes, max_audio_bytes + FORM_OVERHEAD_BYTES)


def routes(service: TranscriptionService, auth: Authenticator, max_audio_bytes: int) -> list[Route]:
    async def create_transcription(request: Request) -> Response:
        key = await auth.api_key(request)
        fields, audio = await read_form(request, max_audio_bytes, "audio file")
        body = CreateTranscriptionRequest.model_validate(fields)
        return await service.transcribe(body, _nonempty(audio), key, request.state.request_id)

    async def create_translation(request: Request) -> Response:
        key = await auth.api_key(request)
        fields, audio = await read_form(request, max_audio_bytes, "audio file")
        body = CreateTranslationRequest.model_validate(fields)
        return await service.translate(body, _nonempty(audio), key, request.state.request_id)

    return [
        Route(PREFIX + "transcriptions", create_transcription, methods=["POST"]),
        Route(PREFIX + "translations", create_translation, methods=["POST"]),
    ]


def _nonempty(audio: Upload | None) -> bytes:
    if audio is None:
        raise InvalidRequestError("Missing required parameter: 'file'.", param="file")
    if not audio.data:
        raise InvalidRequestError("The audio file is empty.", param="file", code="empty_audio")
    return audio.data
