"""What every answer to hostile input must be, shared by the unit and integration schemathesis runs."""

from __future__ import annotations

import copy
from typing import Any

# Statuses an error may have: OpenAI's (validation errors are 400, never 422), 405 for a wrong method,
# 410 for a retired model, 409 for an id already taken (OpenAI SDKs raise ConflictError).
ERROR_STATUSES = {400, 401, 403, 404, 405, 409, 410, 413, 415, 429}
# The request bodies whose `model` names a model of the catalog, by the capability they need.
MODEL_BODIES = {"ChatCompletionRequest": "chat", "CompletionRequest": "completions",
                "EmbeddingCreateRequest": "embeddings", "CreateTranscriptionRequest": "transcription",
                "CreateTranslationRequest": "transcription"}


def check_openai_error(status: int, body: Any) -> None:
    """An error answer is ``{"error": {"message", "type", "param", "code"}}`` with a status OpenAI uses."""
    assert status in ERROR_STATUSES, f"unexpected error status {status}: {body}"
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["type"], str) and error["type"], error
    assert error["param"] is None or (isinstance(error["param"], str) and error["param"]), error
    assert error["code"] is None or isinstance(error["code"], str), error


def check_answer(status: int, json_body: Any) -> None:
    """No 5xx; an error in OpenAI's shape."""
    assert status < 500, f"server error {status}: {json_body}"
    if status >= 400:
        check_openai_error(status, json_body)


def with_catalog_models(document: dict[str, Any], models: dict[str, list[str]]) -> dict[str, Any]:
    """The description with each body's ``model`` drawn from the served models that have the capability
    (``models``: capability -> ids), so that generated requests reach the engines instead of a 404."""
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]
    for name, capability in MODEL_BODIES.items():
        if models.get(capability):
            schemas[name]["properties"]["model"] = {"type": "string", "enum": models[capability]}
    return document
