"""Hypothesis on the request parsers: JSON bodies and every field of the request models, image data URLs,
token-id inputs, multipart audio forms, raw bytes. Whatever comes in, the answer is no 5xx and every error
is OpenAI's error object with a status OpenAI uses."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from starlette.testclient import TestClient

from serve_app.admin import CreateKeyRequest
from serve_app.chat.images import ImagePolicy, check_image_url
from serve_app.chat.protocol import ChatCompletionRequest
from serve_app.completions.protocol import CompletionRequest
from serve_app.embeddings.protocol import EmbeddingCreateRequest
from serve_app.errors import APIError, InvalidRequestError, to_api_error
from tests.support.hostile import check_answer
from tests.unit.test_audio import wav

FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
TOKEN_IDS = st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=4)
IMAGE_URL = (st.builds(lambda kind, data: f"data:image/{kind};base64,{base64.b64encode(data).decode()}",
                       st.sampled_from(["png", "jpeg", "gif", "x", ""]), st.binary(max_size=64))
             | st.builds(lambda head, text: head + text, st.sampled_from(["data:", "data:image/png;base64,", "http://",
                                                                          "https://images.example.org/", "file:/"]),
                         st.text(max_size=24)))
PART = (st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=8)})
        | st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": IMAGE_URL})})
        | JSON)
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user", "assistant", "tool"]) | JSON,
                                 "content": st.text(max_size=8) | st.lists(PART, max_size=3) | JSON})
# Field-aware values: each parser gets both plausible and hostile input.
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "messages": st.lists(MESSAGE, max_size=3) | JSON,
    "prompt": st.text(max_size=8) | TOKEN_IDS | st.lists(TOKEN_IDS | st.text(max_size=4), max_size=3) | JSON,
    "input": st.text(max_size=8) | TOKEN_IDS | st.lists(TOKEN_IDS | st.text(max_size=4), max_size=3) | JSON,
    "stop": st.text(max_size=4) | st.lists(st.text(max_size=4), max_size=6) | JSON,
    "logit_bias": st.dictionaries(st.text(max_size=4), st.floats(-200, 200), max_size=2) | JSON,
    "max_tokens": st.integers(min_value=-5, max_value=2**70) | JSON,
    "seed": st.integers(min_value=-(2**70), max_value=2**70) | JSON,
    "n": st.integers(min_value=-2, max_value=300) | JSON,
    "quotas": st.dictionaries(st.sampled_from(["requests_per_minute", "allowed_models", "monthly_spend_cap_usd",
                                               "max_concurrent_streams", "guard", "x"]), JSON, max_size=3) | JSON,
}
BASES = {
    "/v1/chat/completions": (ChatCompletionRequest, {"model": "fake-vision", "messages": [
        {"role": "user", "content": "Hi"}], "max_tokens": 2}),
    "/v1/completions": (CompletionRequest, {"model": "fake-chat", "prompt": "Hi", "max_tokens": 2}),
    "/v1/embeddings": (EmbeddingCreateRequest, {"model": "fake-embed", "input": "Hi"}),
    "/admin/v1/keys": (CreateKeyRequest, {"name": "fuzz"}),
}


def overrides(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from([*model.model_fields, "unknown_field"])
    return st.dictionaries(names, st.deferred(lambda: st.one_of(JSON, *FIELD_VALUES.values())), max_size=3).flatmap(
        lambda fields: st.fixed_dictionaries({name: FIELD_VALUES.get(name, JSON) for name in fields}))


@FUZZ
@given(data=st.data())
def test_any_field_value_gets_an_openai_answer(client: TestClient, auth: dict[str, str],
                                               data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(sorted(BASES)))
    model, base = BASES[path]
    body = {**base, **data.draw(overrides(model))}
    headers = {"Authorization": "Bearer test-admin-token"} if path.startswith("/admin") else auth
    response = client.post(path, headers=headers, json=body)
    check_answer(response.status_code, response.json() if response.status_code >= 400 else None)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(model=st.sampled_from([model for model, _ in BASES.values()]), value=JSON | st.dictionaries(
    st.sampled_from(["model", "messages", "prompt", "input", "stop", "n", "seed", "name", "quotas"]), JSON))
def test_request_models_fail_only_with_400s(model: type[BaseModel], value: Any) -> None:
    try:
        model.model_validate_json(json.dumps(value), strict=True)
    except (ValidationError, APIError) as exc:
        error = to_api_error(exc, "req_fuzz")
        assert error.status_code == 400
        check_answer(error.status_code, error.body())


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(url=IMAGE_URL)
def test_image_urls_are_accepted_or_refused_with_a_400_naming_the_part(url: str) -> None:
    try:
        check_image_url(url, "messages[0].content[0].image_url.url", ImagePolicy(64, frozenset({"images.example.org"})))
    except InvalidRequestError as exc:
        assert exc.param == "messages[0].content[0].image_url.url" and exc.code


FORM_NAMES = st.sampled_from(["model", "language", "prompt", "response_format", "temperature",
                              "timestamp_granularities[]", "file", "x", ""])


@st.composite
def multipart(draw: st.DrawFn) -> tuple[str, bytes]:
    boundary = draw(st.sampled_from(["b0undary", "x" * 70, "a b"]))
    parts = []
    for name in draw(st.lists(FORM_NAMES, max_size=5)):
        filename = draw(st.none() | st.sampled_from(["a.wav", "", "../../etc/passwd", "a\r\nb"]))
        value = draw(st.sampled_from([wav(0.05), b"", b"RIFF"]) | st.binary(max_size=32)
                     | st.text(max_size=8).map(str.encode))
        disposition = f'form-data; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    cut = draw(st.none() | st.integers(min_value=0, max_value=len(body)))
    content_type = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}", "multipart/form-data",
                                         "application/json", f'multipart/form-data; boundary="{boundary}"']))
    return content_type, body if cut is None else body[:cut]


@FUZZ
@given(form=multipart(), path=st.sampled_from(["/v1/audio/transcriptions", "/v1/audio/translations"]))
def test_any_multipart_form_gets_an_openai_answer(client: TestClient, auth: dict[str, str], form: tuple[str, bytes],
                                                  path: str) -> None:
    content_type, body = form
    response = client.post(path, headers={**auth, "content-type": content_type}, content=body)
    check_answer(response.status_code, response.json() if response.status_code >= 400 else None)


@FUZZ
@given(body=st.binary(max_size=64) | JSON.map(lambda value: json.dumps(value).encode()),
       path=st.sampled_from([*BASES, "/admin/v1/maintenance"]))
def test_any_bytes_get_an_openai_answer(client: TestClient, auth: dict[str, str], body: bytes, path: str) -> None:
    headers = {"Authorization": "Bearer test-admin-token"} if path.startswith("/admin") else auth
    response = client.post(path, headers={**headers, "content-type": "application/json"}, content=body)
    check_answer(response.status_code, response.json() if response.status_code >= 400 else None)
