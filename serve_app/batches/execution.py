"""One line of a batch, run through the same operation as the HTTP endpoint it names, as the batch's API key."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from serve_app.errors import to_api_error
from serve_app.http import JsonOperation, validate_body
from serve_app.keys import ApiKey

# Refusals that pass: the key's per-minute limits, an open-streams limit, an overloaded or restarting model, the
# database or the meter out for a moment. The line waits and runs again (within the batch's window).
RETRIED_CODES = frozenset({"rate_limit_exceeded", "too_many_concurrent_streams"})


@dataclass(frozen=True)
class LineResult:
    custom_id: str
    status_code: int
    body: dict[str, Any]
    retry_after: float | None = None  # seconds to wait before running the line again; None: the result stands

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    def record(self, request_id: str) -> bytes:
        """The line of the output (or error) file, in OpenAI's shape."""
        return json.dumps({"id": "batch_req_" + secrets.token_hex(12), "custom_id": self.custom_id,
                           "response": {"status_code": self.status_code, "request_id": request_id, "body": self.body},
                           "error": None}, ensure_ascii=False, separators=(",", ":")).encode()

    def usage(self) -> tuple[int, int]:
        """Input and output tokens of a successful answer, as its ``usage`` says."""
        usage = (self.body.get("usage") or {}) if self.succeeded else {}
        return (int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0),
                int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0))


def unrun(custom_id: str, code: str, message: str) -> bytes:
    """The error-file line of a request the batch never ran (expired or cancelled first), as OpenAI writes it."""
    return json.dumps({"id": "batch_req_" + secrets.token_hex(12), "custom_id": custom_id, "response": None,
                       "error": {"code": code, "message": message}}, separators=(",", ":")).encode()


async def run_line(operation: JsonOperation, line: dict[str, Any], key: ApiKey, request_id: str) -> LineResult:
    """Validates and runs one request; any refusal or failure becomes its error object, as over HTTP."""
    custom_id = line["custom_id"]
    try:
        body = validate_body(line["body"], operation.model)
        response = await operation.create(body, key, request_id)
        return LineResult(custom_id, response.status_code, json.loads(bytes(response.body)))
    except Exception as exc:  # noqa: BLE001 - every failure of a line is its result, mapped as over HTTP
        error = to_api_error(exc, request_id)
        retry = error.code in RETRIED_CODES or error.status_code == 503
        wait = float(error.headers.get("retry-after", 1)) if retry else None
        return LineResult(custom_id, error.status_code, error.body(), wait)
