"""Multipart form uploads (audio files, batch files), read into memory with bounds on the file and the fields."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from serve_app.errors import InvalidRequestError, RequestTooLargeError

MAX_FIELDS = 16
MAX_FIELD_BYTES = 64 * 1024
FORM_OVERHEAD_BYTES = MAX_FIELDS * 1024  # the text fields and part headers around the file


async def read_form(request: Request, max_file_bytes: int, what: str) -> tuple[dict[str, Any], Upload | None]:
    """The text fields (lists for ``name[]`` fields) and the ``file`` part (``what``), if any."""
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise InvalidRequestError(f"The request body must be multipart/form-data, with the {what} in a 'file' part.",
                                  code="invalid_content_type")
    async with aclosing(request.stream()) as stream:
        parser = InMemoryMultiPartParser(request.headers, stream, max_file_bytes, what)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise InvalidRequestError(f"Invalid multipart body: {exc.message}", code="invalid_multipart") from None
    try:
        return _fields(form), await _file(form)
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


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None


async def _file(form: FormData) -> Upload | None:
    upload = form.get("file")
    if upload is None:
        return None
    if not isinstance(upload, UploadFile):
        raise InvalidRequestError("'file' must be an uploaded file (a multipart part with a filename).",
                                  param="file", code="invalid_value")
    return Upload(await upload.read(), upload.filename)


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's multipart parser with one file part held in memory: an upload never touches the disk in the
    clear.

    Starlette spools file parts over 1 MiB to a temporary file; here the spool is larger than the biggest
    file accepted, and a file growing past ``max_file_bytes`` is refused (413) as it arrives.
    """

    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], max_file_bytes: int, what: str) -> None:
        super().__init__(headers, stream, max_files=1, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)
        self.spool_max_size = max_file_bytes + 1
        self._max_file_bytes = max_file_bytes
        self._what = what
        self._file_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self._max_file_bytes:
                raise RequestTooLargeError(f"The {self._what} is too large: the limit is {self._max_file_bytes} bytes.",
                                           param="file", code="request_too_large")
        super().on_part_data(data, start, end)
