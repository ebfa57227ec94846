"""The Batch API's part of the OpenAPI description (``serve_app.openapi`` merges it)."""

from __future__ import annotations

from typing import Any

from serve_app.batches.protocol import FILE_KEY_HEADER

_ERROR = {"description": "OpenAI's error object", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/ErrorResponse"}}}}
_KEY: list[dict[str, list[str]]] = [{"apiKey": []}]
_FILE_KEY = {"name": FILE_KEY_HEADER, "in": "header", "required": True, "schema": {"type": "string"},
             "description": "The `file_key` returned when the batch's input file was uploaded (base64url, 43 "
                            "characters). The platform does not keep it: without it, nothing of the batch can be "
                            "read."}
_FILE_ID = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"}}
_BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
_LIST = [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
         {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
          "description": "The id of the last object of the previous page"}]

FILE_OBJECT = {"type": "object", "required": ["id", "object", "bytes", "created_at", "filename", "purpose"],
               "properties": {"id": {"type": "string"}, "object": {"const": "file"}, "bytes": {"type": "integer"},
                              "created_at": {"type": "integer"}, "expires_at": {"type": "integer"},
                              "filename": {"type": "string"},
                              "purpose": {"type": "string", "enum": ["batch", "batch_output"]},
                              "status": {"type": "string"},
                              "file_key": {"type": "string", "description": "Only in the answer to an upload: the "
                                           "key the file is sealed under, shown once and never kept"}}}
UPLOAD = {"type": "object", "required": ["file", "purpose"], "properties": {
    "file": {"type": "string", "format": "binary", "contentMediaType": "application/jsonl",
             "description": "JSONL: one request a line, `{\"custom_id\", \"method\": \"POST\", \"url\", \"body\"}`, "
                            "every line for the same url"},
    "purpose": {"type": "string", "enum": ["batch"]},
    "expires_after[anchor]": {"type": "string", "enum": ["created_at"]},
    "expires_after[seconds]": {"type": "integer", "minimum": 3600, "maximum": 2592000,
                               "description": "Kept at most LLMAAS_BATCH_RETENTION_HOURS (7 days) whatever is asked"}}}


def _op(summary: str, ok: dict[str, Any], errors: tuple[int, ...], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": _KEY,
            "responses": {"200": ok, **{str(code): _ERROR for code in errors}}, **extra}


def _json(ref: str | None = None) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"} if ref else {"type": "object"}
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def paths() -> dict[str, Any]:
    return {
        "/v1/files": {
            "post": _op("Upload a batch input file (JSONL, validated line by line): it is stored sealed under a new "
                        "key, returned once as `file_key`", _json("BatchFile"), (400, 401, 408, 413, 429),
                        requestBody={"required": True, "content": {"multipart/form-data": {"schema": UPLOAD}}}),
            "get": _op("List the key's files", _json(), (400, 401), parameters=[
                *_LIST, {"name": "purpose", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "order", "in": "query", "required": False, "schema": {"enum": ["asc", "desc"]}}]),
        },
        "/v1/files/{file_id}": {
            "get": _op("Retrieve a file", _json("BatchFile"), (401, 404), parameters=[_FILE_ID]),
            "delete": _op("Delete a file (gone from the database and the disk)", _json(), (400, 401, 404),
                          parameters=[_FILE_ID]),
        },
        "/v1/files/{file_id}/content": {"get": _op(
            "Download a batch's output or error file, once: it is deleted when the download has been sent",
            {"description": "JSONL", "content": {"application/jsonl": {"schema": {"type": "string"}}}},
            (400, 401, 403, 404), parameters=[_FILE_ID, _FILE_KEY])},
        "/v1/batches": {
            "post": _op("Create a batch from an uploaded file; it runs in the background at the batch price, within "
                        "24 h", _json(), (400, 401, 404, 429, 503), parameters=[_FILE_KEY], requestBody={
                            "required": True, "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/BatchCreateRequest"}}}}),
            "get": _op("List the key's batches, newest first", _json(), (400, 401), parameters=_LIST),
        },
        "/v1/batches/{batch_id}": {"get": _op("Retrieve a batch", _json(), (401, 404), parameters=[_BATCH_ID])},
        "/v1/batches/{batch_id}/cancel": {"post": _op(
            "Cancel a batch: lines not started go to the error file (`batch_cancelled`)", _json(), (401, 404),
            parameters=[_BATCH_ID])},
    }
