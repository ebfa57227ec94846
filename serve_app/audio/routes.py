"""Routes for ``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations`` (multipart forms)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serve_app.audio.protocol import CreateTranscriptionRequest, CreateTranslationRequest
from serve_app.audio.serving import TranscriptionService
from serve_app.auth import Authenticator
from serve_app.errors import InvalidRequestError, RequestTooLargeError

PREFIX = "/v1/audio/"
MAX_FIELDS = 16
MAX_FIELD_BYTES = 64 * 1024
FORM_OVERHEAD_BYTES = MAX_FIELDS * 1024  # the text fields and part headers around the file


def body_limit(max_body_bytes: int, max_audio_bytes: int) -> int:
    """The request body limit under ``/v1/audio/``: room for a file of ``max_audio_bytes`` and its form."""
    return max(max_body_bytes, max_audio_bytes + FORM_OVERHEAD_BYTES)


def routes(service: TranscriptionService, auth: Authenticator, max_audio_bytes: int) -> list[Route]:
    async def create_transcription(request: Request) -> Response:
        key = await auth.api_key(request)
        fields, audio = await read_form(request, max_audio_bytes)
        body = CreateTranscriptionRequest.model_validate(fields)
        return await service.transcribe(body, _nonempty(audio), key, request.state.request_id)

    async def create_translation(request: Request) -> Response:
        key = await auth.api_key(request)
        fields, audio = await read_form(request, max_audio_bytes)
        body = CreateTranslationRequest.model_validate(fields)
        return await service.translate(body, _nonempty(audio), key, request.state.request_id)

    return [
        Route(PREFIX + "transcriptions", create_transcription, methods=["POST"]),
        Route(PREFIX + "translations", create_translation, methods=["POST"]),
    ]


async def read_form(request: Request, max_audio_bytes: int) -> tuple[dict[str, Any], bytes | None]:
    """The text fields (lists for ``name[]`` fields) and the bytes of the ``file`` part, if any."""
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise InvalidRequestError("The request body must be multipart/form-data, with the audio in a 'file' part.",
                                  code="invalid_content_type")
    async with aclosing(request.stream()) as stream:
        parser = InMemoryMultiPartParser(request.headers, stream, max_audio_bytes)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise InvalidRequestError(f"Invalid multipart body: {exc.message}", code="invalid_multipart") from None
    try:
        return _fields(form), await _audio(form)
    finally:
        await form.close()


def _fields(form: FormData) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in form.multi_items():
        if name == "file":
            continue
        if name.endswith("[]"):
            fields.setdefault(name, []).append(value)
        else:
            fields[name] = value
    return fields


async def _audio(form: FormData) -> bytes | None:
    upload = form.get("file")
    if upload is None:
        return None
    if not isinstance(upload, UploadFile):
        raise InvalidRequestError("'file' must be an uploaded file (a multipart part with a filename).",
                                  param="file", code="invalid_value")
    return await upload.read()


def _nonempty(audio: bytes | None) -> bytes:
    if audio is None:
        raise InvalidRequestError("Missing required parameter: 'file'.", param="file")
    if not audio:
        raise InvalidRequestError("The audio file is empty.", param="file", code="empty_audio")
    return audio


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's multipart parser with one file part held in memory: audio never touches the disk.

    Starlette spools file parts over 1 MiB to a temporary file; here the spool is larger than the biggest
    file accepted, and a file growing past ``max_file_bytes`` is refused (413) as it arrives.
    """

    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], max_file_bytes: int) -> None:
        super().__init__(headers, stream, max_files=1, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)
        self.spool_max_size = max_file_bytes + 1
        self._max_file_bytes = max_file_bytes
        self._file_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self._max_file_bytes:
                raise RequestTooLargeError(f"The audio file is too large: the limit is {self._max_file_bytes} bytes.",
                                           param="file", code="request_too_large")
        super().on_part_data(data, start, end)
