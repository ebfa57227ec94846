"""``/v1/files`` for batches: upload a JSONL input file (sealed under a new key handed to the client), list,
retrieve, delete, and download a batch's results once (the file is gone when the download ends)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.batches.blobs import Blobs
from serve_app.batches.crypto import KeyMismatchError, decode_key, encode_key, new_file_key
from serve_app.batches.protocol import FILE_KEY_HEADER, ExpiresAfter, file_object, page, parse_input
from serve_app.batches.store import BatchStore, InFlightLimitError, Row
from serve_app.body_bounds import BodyBounds
from serve_app.errors import InvalidRequestError, NotFoundError, PermissionDeniedError, RateLimitError
from serve_app.http import limit_param
from serve_app.multipart import FORM_OVERHEAD_BYTES, read_form

PREFIX = "/v1/files"


@dataclass(frozen=True)
class FileLimits:
    max_file_bytes: int
    max_requests: int
    max_line_bytes: int  # a line is a request: no larger than a request body over HTTP
    max_files: int  # input files a key may hold at once
    retention_seconds: int


def body_limit(max_body_bytes: int, max_file_bytes: int) -> int:
    return max(max_body_bytes, max_file_bytes + FORM_OVERHEAD_BYTES)


def routes(store: BatchStore, blobs: Blobs, auth: Authenticator, limits: FileLimits, endpoints: Collection[str],
           bounds: BodyBounds) -> list[Route]:
    async def upload(request: Request) -> Response:
        key = await auth.api_key(request)
        fields, upload = await read_form(request, limits.max_file_bytes, "batch file")
        if fields.get("purpose") != "batch":
            raise InvalidRequestError("'purpose' must be \"batch\": this platform stores files only for the Batch "
                                      "API.", param="purpose", code="invalid_value")
        if upload is None or not upload.data:
            raise InvalidRequestError("Missing required parameter: 'file' (a JSONL file of requests).", param="file")
        expires_in = _expires_in(fields, limits.retention_seconds)
        data = upload.data
        parsed = await asyncio.to_thread(parse_input, data, endpoints, limits.max_requests, limits.max_line_bytes,
                                         bounds)
        file_key = new_file_key()
        now = int(time.time())
        blob = "in_" + secrets.token_hex(12)
        row: Row = {"id": "file-" + secrets.token_hex(12), "key_id": key.id, "purpose": "batch",
                    "filename": (upload.filename or "batch.jsonl")[:255], "bytes": len(data),
                    "lines": len(parsed.lines), "endpoint": parsed.endpoint, "blob": blob, "created_at": now,
                    "expires_at": now + expires_in}
        try:  # the row first: the sweeper never takes a blob being written
            await asyncio.to_thread(store.add_file, row, limits.max_files)
        except InFlightLimitError:
            raise RateLimitError(f"This API key already holds {limits.max_files} batch input files, the most it may: "
                                 "delete one, or let its batch end.", code="too_many_files",
                                 headers={"retry-after": "60"}) from None
        try:
            await asyncio.to_thread(blobs.write, blob, file_key, parsed.lines)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(store.remove_file, row["id"], key.id))  # no row without its lines
            raise
        return JSONResponse({**file_object(row), "file_key": encode_key(file_key)})

    async def list_files(request: Request) -> Response:
        key = await auth.api_key(request)
        query = request.query_params
        limit = limit_param(query.get("limit"), 10_000)
        order = query.get("order", "desc")
        if order not in {"asc", "desc"}:
            raise InvalidRequestError("'order' must be \"asc\" or \"desc\".", param="order", code="invalid_value")
        rows = await asyncio.to_thread(store.files, key.id, query.get("purpose"), limit + 1, query.get("after"),
                                       order == "desc")
        return JSONResponse(page([file_object(row) for row in rows[:limit]], len(rows) > limit))

    async def retrieve(request: Request) -> Response:
        key = await auth.api_key(request)
        return JSONResponse(file_object(await _own_file(store, request, key.id)))

    async def remove(request: Request) -> Response:
        key = await auth.api_key(request)
        row = await _own_file(store, request, key.id)
        if await asyncio.to_thread(store.remove_file, row["id"], key.id) is None:
            raise InvalidRequestError("This file is the input of a batch in flight; it is deleted when the batch "
                                      "ends (or cancel the batch).", param="file_id", code="file_in_use")
        await asyncio.to_thread(blobs.delete, row["blob"])
        return JSONResponse({"id": row["id"], "object": "file", "deleted": True})

    async def content(request: Request) -> Response:
        key = await auth.api_key(request)
        row = await _own_file(store, request, key.id)
        if row["purpose"] != "batch_output":
            raise PermissionDeniedError("Batch input files cannot be downloaded: they are kept only to run their "
                                        "batch, and deleted when it ends.", param="file_id",
                                        code="file_not_downloadable")
        file_key = presented_key(request)
        try:
            records = await asyncio.to_thread(lambda: list(blobs.read(row["blob"], file_key)))
        except KeyMismatchError:
            raise InvalidRequestError(f"The {FILE_KEY_HEADER} header does not open this file: present the file_key "
                                      "you got when you uploaded the batch's input file.", param=FILE_KEY_HEADER,
                                      code="invalid_file_key") from None
        body = b"".join(record + b"\n" for record in records)
        # Read once: the file is gone from the database and the disk when its download has been sent.
        return Response(body, media_type="application/jsonl",
                        background=BackgroundTask(_delete, store, blobs, row))

    return [
        Route(PREFIX, upload, methods=["POST"]),
        Route(PREFIX, list_files, methods=["GET"]),
        Route(PREFIX + "/{file_id}", retrieve, methods=["GET"]),
        Route(PREFIX + "/{file_id}", remove, methods=["DELETE"]),
        Route(PREFIX + "/{file_id}/content", content, methods=["GET"]),
    ]


async def _own_file(store: BatchStore, request: Request, key_id: str) -> Row:
    return await owned(store.file, request, key_id, "file_id", "File")


async def owned(lookup: Callable[[str, str], Row | None], request: Request, key_id: str, param: str,
                kind: str) -> Row:
    """The object the path names, if the caller's key owns it: a 404 otherwise (another key's is not shown)."""
    object_id = request.path_params[param]
    row = await asyncio.to_thread(lookup, object_id, key_id)
    if row is None:
        raise NotFoundError(f"No such {kind} object: {object_id}", param=param, code=f"{kind.lower()}_not_found")
    return row


def _delete(store: BatchStore, blobs: Blobs, row: Row) -> None:
    if store.remove_file(row["id"], row["key_id"]) is not None:
        blobs.delete(row["blob"])


def presented_key(request: Request) -> bytes:
    """The file key the client sends in ``x-llmaas-file-key``: a 400 naming the header when it is missing or
    malformed."""
    text = request.headers.get(FILE_KEY_HEADER)
    if not text:
        raise InvalidRequestError(f"Missing the {FILE_KEY_HEADER} header: present the file_key you got when you "
                                  "uploaded the batch's input file (the platform does not keep it).",
                                  param=FILE_KEY_HEADER, code="missing_file_key")
    key = decode_key(text)
    if key is None:
        raise InvalidRequestError(f"The {FILE_KEY_HEADER} header is not a file key (43 base64url characters).",
                                  param=FILE_KEY_HEADER, code="invalid_file_key")
    return key


def _expires_in(fields: dict[str, object], retention: int) -> int:
    anchor, seconds = fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return retention
    try:
        given = ExpiresAfter.model_validate({"anchor": anchor, "seconds": int(str(seconds))})
    except ValueError:
        raise InvalidRequestError("'expires_after' needs anchor \"created_at\" and seconds between 3600 and "
                                  "2592000.", param="expires_after", code="invalid_value") from None
    return min(given.seconds, retention)
