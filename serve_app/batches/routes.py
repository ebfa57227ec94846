"""``/v1/batches``: create a batch from an uploaded file (the client presents the file's key), retrieve, list and
cancel; each key's batches in flight are bounded across the cluster."""

from __future__ import annotations

import asyncio
import secrets
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.batches.blobs import Blobs
from serve_app.batches.crypto import KeyMismatchError, wrap
from serve_app.batches.files import owned, presented_key
from serve_app.batches.protocol import FILE_KEY_HEADER, BatchCreateRequest, batch_object, page
from serve_app.batches.store import BatchStore, InFlightLimitError, Row
from serve_app.errors import InvalidRequestError, NotFoundError, RateLimitError, ServiceUnavailableError
from serve_app.http import limit_param, parse_body

PREFIX = "/v1/batches"
WINDOW_SECONDS = 24 * 3600


def routes(store: BatchStore, blobs: Blobs, auth: Authenticator, kek: bytes | None, max_in_flight: int,
           retention_seconds: int) -> list[Route]:
    async def create(request: Request) -> Response:
        key = await auth.api_key(request)
        if kek is None:
            raise ServiceUnavailableError("Batches are not offered here: the operator has set neither "
                                          "LLMAAS_BATCH_SECRET nor LLMAAS_ADMIN_TOKEN.", code="batches_unavailable")
        body = await parse_body(request, BatchCreateRequest)
        file_key = presented_key(request)
        source = await asyncio.to_thread(store.file, body.input_file_id, key.id)
        if source is None or source["purpose"] != "batch":
            raise NotFoundError(f"No such batch input file: {body.input_file_id}", param="input_file_id",
                                code="file_not_found")
        if body.endpoint != source["endpoint"]:
            raise InvalidRequestError(f"The file's requests are for {source['endpoint']}, not {body.endpoint}.",
                                      param="endpoint", code="invalid_value")
        if await asyncio.to_thread(store.in_use, source["id"]):
            raise InvalidRequestError("This file is already the input of a batch in flight.", param="input_file_id",
                                      code="file_in_use")
        try:
            await asyncio.to_thread(blobs.check_key, source["blob"], file_key)
        except KeyMismatchError:
            raise InvalidRequestError(f"The {FILE_KEY_HEADER} header does not open this file: present the file_key "
                                      "you got when you uploaded it.", param=FILE_KEY_HEADER,
                                      code="invalid_file_key") from None
        now = int(time.time())
        batch_id = "batch_" + secrets.token_hex(12)
        retention = min(body.output_expires_after.seconds, retention_seconds) if body.output_expires_after \
            else retention_seconds
        row: Row = {"id": batch_id, "key_id": key.id, "status": "validating", "endpoint": body.endpoint,
                    "input_file_id": source["id"], "input_blob": source["blob"],
                    "completion_window": body.completion_window, "metadata": body.metadata, "errors": None,
                    "total": source["lines"], "completed": 0, "failed": 0, "input_tokens": 0, "output_tokens": 0,
                    "output_retention": retention, "wrapped_key": wrap(kek, file_key, batch_id),
                    "created_at": now, "expires_at": now + WINDOW_SECONDS}
        try:
            await asyncio.to_thread(store.create_batch, row, max_in_flight)
        except InFlightLimitError:
            raise RateLimitError(f"This API key already has {max_in_flight} batches in flight, the most it may "
                                 "have: wait for one to end, or cancel one.", code="batch_limit_reached",
                                 headers={"retry-after": "60"}) from None
        created = await asyncio.to_thread(store.batch, batch_id)
        assert created is not None
        return JSONResponse(batch_object(created))

    async def retrieve(request: Request) -> Response:
        key = await auth.api_key(request)
        return JSONResponse(batch_object(await _own_batch(store, request, key.id)))

    async def list_batches(request: Request) -> Response:
        key = await auth.api_key(request)
        limit = limit_param(request.query_params.get("limit"), 100, default=20)
        rows = await asyncio.to_thread(store.batches, key.id, limit + 1, request.query_params.get("after"))
        return JSONResponse(page([batch_object(row) for row in rows[:limit]], len(rows) > limit))

    async def cancel(request: Request) -> Response:
        key = await auth.api_key(request)
        row = await _own_batch(store, request, key.id)
        await asyncio.to_thread(store.request_cancel, row["id"], int(time.time()))
        return JSONResponse(batch_object(await _own_batch(store, request, key.id)))

    return [
        Route(PREFIX, create, methods=["POST"]),
        Route(PREFIX, list_batches, methods=["GET"]),
        Route(PREFIX + "/{batch_id}", retrieve, methods=["GET"]),
        Route(PREFIX + "/{batch_id}/cancel", cancel, methods=["POST"]),
    ]


async def _own_batch(store: BatchStore, request: Request, key_id: str) -> Row:
    return await owned(store.batch, request, key_id, "batch_id", "Batch")
