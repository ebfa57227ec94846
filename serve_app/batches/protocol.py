"""The Batch API's shapes, as OpenAI names them: the request to create a batch, a batch input file's lines, and
the file and batch objects."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serve_app.body_bounds import BodyBounds
from serve_app.errors import APIError, InvalidRequestError
from serve_app.http import parse_json

FILE_KEY_HEADER = "x-llmaas-file-key"
MAX_CUSTOM_ID_CHARS = 512


class ExpiresAfter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anchor: Literal["created_at"]
    seconds: int = Field(ge=3600, le=2_592_000)


class BatchCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_file_id: str = Field(max_length=64)
    endpoint: str = Field(max_length=64)
    completion_window: Literal["24h"]
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    output_expires_after: ExpiresAfter | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_bounds(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value and any(len(k) > 64 or len(v) > 512 for k, v in value.items()):
            raise ValueError("metadata keys are at most 64 characters and values at most 512")
        return value


@dataclass(frozen=True)
class InputFile:
    """A validated batch input file: one normalized JSON line per request, all for ``endpoint``."""

    lines: list[bytes]
    endpoint: str


def parse_input(data: bytes, endpoints: Collection[str], max_requests: int, max_line_bytes: int,
                bounds: BodyBounds) -> InputFile:
    """Validates a JSONL batch file as OpenAI describes it: one request a line, ``custom_id`` unique, ``method``
    POST, one ``url`` for every line, ``body`` an object the endpoint takes in a batch (no ``stream``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("The file is not UTF-8 text: a batch file is JSONL, one JSON request per line.") from None
    lines: list[bytes] = []
    seen: set[str] = set()
    endpoint: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(raw) > max_line_bytes or len(raw.encode()) > max_line_bytes:
            raise _invalid(f"Line {number} is longer than {max_line_bytes} bytes, the largest request body.",
                           code="line_too_large")
        if len(lines) >= max_requests:
            raise _invalid(f"The file has more than {max_requests} requests, the most one batch may hold.",
                           code="too_many_requests")
        line = _line(raw, number, endpoints, bounds)
        if line["custom_id"] in seen:
            raise _invalid(f"Line {number}: the custom_id {line['custom_id']!r} is used by an earlier line; every "
                           "request of a batch needs its own.", code="duplicate_custom_id")
        seen.add(line["custom_id"])
        if endpoint is not None and line["url"] != endpoint:
            raise _invalid(f"Line {number}: its url {line['url']} differs from the first line's ({endpoint}); a batch "
                           "runs one endpoint.", code="mixed_endpoints")
        endpoint = line["url"]
        lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
    if endpoint is None:
        raise _invalid("The file holds no request.", code="empty_file")
    return InputFile(lines, endpoint)


def _line(raw: str, number: int, endpoints: Collection[str], bounds: BodyBounds) -> dict[str, Any]:
    try:
        line = parse_json(raw)
    except InvalidRequestError:
        raise _invalid(f"Line {number} is not valid JSON.", code="invalid_json_line") from None
    if not isinstance(line, dict):
        raise _invalid(f"Line {number} is not a JSON object.", code="invalid_json_line")
    extra = set(line) - {"custom_id", "method", "url", "body"}
    if extra:
        raise _invalid(f"Line {number}: unknown field(s) {', '.join(sorted(extra))}; a line has custom_id, method, "
                       "url and body.", code="invalid_json_line")
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID_CHARS:
        raise _invalid(f"Line {number}: custom_id must be a string of 1 to {MAX_CUSTOM_ID_CHARS} characters.",
                       code="invalid_json_line")
    if line.get("method") != "POST":
        raise _invalid(f"Line {number}: method must be \"POST\".", code="invalid_json_line")
    if line.get("url") not in endpoints:
        raise _invalid(f"Line {number}: url must be one of {', '.join(sorted(endpoints))}.", code="invalid_url")
    body = line.get("body")
    if not isinstance(body, dict):
        raise _invalid(f"Line {number}: body must be a JSON object (the request as the endpoint takes it).",
                       code="invalid_json_line")
    if body.get("stream"):
        raise _invalid(f"Line {number}: requests in a batch cannot be streamed; remove `stream`.",
                       code="invalid_json_line")
    try:
        bounds.check(body)
    except APIError as exc:
        raise _invalid(f"Line {number}: {exc.message}", code=exc.code or "invalid_batch_file") from None
    return line


def _invalid(message: str, code: str = "invalid_batch_file") -> InvalidRequestError:
    return InvalidRequestError(message, param="file", code=code)


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "file", "bytes": row["bytes"], "created_at": row["created_at"],
            "expires_at": row["expires_at"], "filename": row["filename"], "purpose": row["purpose"],
            "status": "processed", "status_details": None}


def batch_object(row: dict[str, Any]) -> dict[str, Any]:
    usage = None
    if row["status"] in {"completed", "cancelled", "expired", "failed"} or row["completed"] or row["failed"]:
        usage = {"input_tokens": row["input_tokens"], "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": row["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": row["input_tokens"] + row["output_tokens"]}
    return {
        "id": row["id"], "object": "batch", "endpoint": row["endpoint"], "errors": row["errors"],
        "input_file_id": row["input_file_id"], "completion_window": row["completion_window"],
        "status": row["status"], "output_file_id": row["output_file_id"], "error_file_id": row["error_file_id"],
        **{name: row[name] for name in ("created_at", "in_progress_at", "expires_at", "finalizing_at", "completed_at",
                                         "failed_at", "expired_at", "cancelling_at", "cancelled_at")},
        "request_counts": {"total": row["total"], "completed": row["completed"], "failed": row["failed"]},
        "metadata": row["metadata"], "usage": usage,
    }


def page(objects: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": objects, "first_id": objects[0]["id"] if objects else None,
            "last_id": objects[-1]["id"] if objects else None, "has_more": has_more}
