"""Schemathesis against the ingress built in-process with stand-in engines, from its own ``/openapi.json``.

Every generated request, valid or not, must get an answer that is no 5xx, has a documented status and
content type, and, when it is an error, OpenAI's error object with a status OpenAI uses. Below, the
regression tests of what the run found.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from serve_app.openapi import build_openapi
from tests.conftest import ADMIN_TOKEN
from tests.support.hostile import check_answer, with_catalog_models

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
# The stand-in catalog of tests/conftest.py, by capability.
MODELS = {"chat": ["fake-chat", "fake-vision"], "completions": ["fake-chat"], "embeddings": ["fake-embed"],
          "transcription": ["fake-whisper"]}


def openai_answer(ctx: Any, response: schemathesis.Response, case: Case) -> bool | None:
    """A schemathesis check: no 5xx, and errors in OpenAI's shape with a status OpenAI uses."""
    check_answer(response.status_code, response.json() if response.status_code >= 400 else None)
    return None


@pytest.fixture
def credentials(client: TestClient, api_key: str) -> dict[str, dict[str, str]]:
    return {"apiKey": {"Authorization": f"Bearer {api_key}"},
            "adminToken": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}


def headers_for(case: Case, credentials: dict[str, dict[str, str]]) -> dict[str, str]:
    security = case.operation.definition.raw.get("security") or [{}]
    return next((credentials[name] for name in security[0] if name in credentials), {})


# The description the ingress serves (static: no app needed to build it), with the stand-in models.
# Unknown query parameters are ignored, as OpenAI ignores them: none are generated.
# The console's pages are for browsers (their refusals are pages in words, in the person's language):
# tests/unit/test_console_*.py covers them.
schema = schemathesis.openapi.from_dict(with_catalog_models(build_openapi(), MODELS)).exclude(path_regex="^/console")
schema.config.generation.update(allow_extra_parameters=False)


@schema.parametrize()
@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_generated_requests_get_openai_answers(case: Case, app: ASGIApp,
                                               credentials: dict[str, dict[str, str]]) -> None:
    case.call_and_validate(app=app, base_url="http://test", headers=headers_for(case, credentials), checks=CHECKS,
                           additional_checks=[openai_answer])


# Regression tests: what the schemathesis and hypothesis runs found.

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
QUESTION = [{"role": "user", "content": "Hi"}]


def error_of(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    check_answer(response.status_code, response.json())
    return dict(response.json()["error"])


@pytest.mark.parametrize("role", [["user"], {"a": 1}, 3, None])
def test_a_role_that_is_not_a_string_is_a_400_not_a_500(client: TestClient, auth: dict[str, str],
                                                         role: object) -> None:
    response = client.post("/v1/chat/completions", headers=auth,
                           json={"model": "fake-chat", "messages": [{"role": role, "content": "x"}]})
    assert error_of(response)["param"] == "messages[0]"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_cannot_carry_are_invalid_json(client: TestClient, auth: dict[str, str], number: str) -> None:
    body = '{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "temperature": ' + number + "}"
    response = client.post("/v1/chat/completions", headers={**auth, "content-type": "application/json"},
                           content=body)
    error = error_of(response)
    assert error["code"] == "invalid_json" and number[:8] in error["message"]


@pytest.mark.parametrize("value", ["[" * 30_000 + "]" * 30_000, "9" * 5000])
def test_json_python_cannot_hold_is_invalid_json(client: TestClient, auth: dict[str, str], value: str) -> None:
    body = '{"model": "fake-chat", "tool_choice": ' + value + "}"
    response = client.post("/v1/chat/completions", headers={**auth, "content-type": "application/json"},
                           content=body)
    assert error_of(response)["code"] == "invalid_json"


def test_a_check_across_fields_names_no_empty_param(client: TestClient) -> None:
    response = client.post("/admin/v1/maintenance", headers=ADMIN,
                           json={"title": "t", "starts_at": 2_000_000_000, "ends_at": 1_999_999_999})
    error = error_of(response)
    assert error["param"] is None
    assert error["message"] == "Invalid request: `ends_at` must come after `starts_at`."


@pytest.mark.parametrize(("field", "value", "param"), [
    ("input", [-1], "input[0]"),
    ("input", [2**31], "input[0]"),
    ("input", [[1], []], "input[1]"),
    ("input", ["ok", ""], "input[1]"),
    ("input", [], "input"),
    ("dimensions", True, "dimensions"),
])
def test_bad_embedding_inputs_name_the_item(client: TestClient, auth: dict[str, str], field: str, value: object,
                                            param: str) -> None:
    response = client.post("/v1/embeddings", headers=auth, json={"model": "fake-embed", "input": "x", field: value})
    error = error_of(response)
    assert error["param"] == param and "Input should be a valid string" not in error["message"]


@pytest.mark.parametrize(("field", "value"), [
    ("seed", 2**63), ("seed", -(2**63) - 1), ("stop", ""), ("stop", ["\n", ""]), ("n", True), ("max_tokens", "5"),
    ("stream", "true"),
    ("prompt", [-5]), ("logprobs", {}), ("logit_bias", {"a": 5}), ("logprobs", 6),
    ("stream_options", {"include_usage": True}),
])
def test_completion_fields_are_checked_strictly(client: TestClient, auth: dict[str, str], field: str,
                                                value: object) -> None:
    response = client.post("/v1/completions", headers=auth, json={"model": "fake-chat", "prompt": "x", field: value})
    assert error_of(response)["param"].startswith(field)


def test_a_seed_within_64_bits_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/completions", headers=auth,
                           json={"model": "fake-chat", "prompt": "x", "seed": 2**63 - 1, "max_tokens": 1})
    assert response.status_code == 200, response.text


def test_a_boolean_is_not_a_quota(client: TestClient) -> None:
    response = client.post("/admin/v1/keys", headers=ADMIN,
                           json={"name": "k", "quotas": {"max_concurrent_streams": False}})
    assert error_of(response)["param"] == "quotas.max_concurrent_streams"


def test_allowed_models_may_repeat_and_times_may_be_iso_8601(client: TestClient) -> None:
    created = client.post("/admin/v1/keys", headers=ADMIN,
                          json={"name": "k", "quotas": {"allowed_models": ["fake-chat", "fake-chat"]}})
    assert created.json()["quotas"]["allowed_models"] == ["fake-chat"]
    window = client.post("/admin/v1/maintenance", headers=ADMIN,
                         json={"title": "t", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T01:00:00Z"})
    assert window.status_code == 200, window.text


def test_a_wrong_method_is_a_405_with_allow(client: TestClient, auth: dict[str, str]) -> None:
    response = client.request("TRACE", "/v1/models", headers=auth)
    error_of(response, 405)
    assert response.headers["allow"] == "GET, HEAD"
    # A path served by several routes (one a method) lists them all.
    response = client.request("PUT", "/admin/v1/keys", headers=ADMIN)
    error_of(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_an_unknown_usage_format_is_a_400(client: TestClient) -> None:
    assert error_of(client.get("/admin/v1/usage?format=xml", headers=ADMIN))["param"] == "format"


def test_form_fields_are_never_null_and_events_have_data(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    form = document["components"]["schemas"]["CreateTranscriptionRequest"]["properties"]
    assert all("null" not in str(field) for field in form.values())
    assert form["language"]["pattern"] == "^[a-z]{2,3}$"
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert chat["text/event-stream"]["schema"]["required"] == ["data"]


def test_docs_describe_every_operation_without_loading_anything(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = response.text
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for path in client.get("/openapi.json").json()["paths"]:
        assert f"<code>{path}</code>" in page, path
    assert 'id="schema-ChatCompletionRequest"' in page and "&le; 2" in page  # temperature's bound


def test_an_image_with_non_ascii_base64_is_a_400(client: TestClient, auth: dict[str, str]) -> None:
    messages = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,\u00e9t\u00e9"}}]}]
    response = client.post("/v1/chat/completions", headers=auth, json={"model": "fake-vision", "messages": messages})
    error = error_of(response)
    assert (error["param"], error["code"]) == ("messages[0].content[0].image_url.url", "invalid_base64")
