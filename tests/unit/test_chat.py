from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from serve_app.errors import InvalidRequestError
from tests.fakes import FakeEngine

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def chat(client: TestClient, auth: dict[str, str], **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/chat/completions", headers=auth, json={"model": "fake-chat", "messages": QUESTION,
                                                                  **body})


def sse_events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


def test_answer_has_choices_and_usage_from_the_engine(client: TestClient, auth: dict[str, str]) -> None:
    response = chat(client, auth)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "fake-chat"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Paris is the capital.", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11}
    assert response.headers["x-request-id"].startswith("req_")


def test_sampling_parameters_reach_the_engine(client: TestClient, auth: dict[str, str],
                                              engine: FakeEngine) -> None:
    response = chat(client, auth, max_completion_tokens=2, temperature=0.5, top_p=0.9, stop="\n", seed=7, n=2,
                    presence_penalty=1, frequency_penalty=-1, response_format={"type": "json_object"})
    assert response.status_code == 200
    sampling = engine.requests[-1].sampling
    assert (sampling.max_tokens, sampling.temperature, sampling.top_p, sampling.stop, sampling.seed) == (
        2, 0.5, 0.9, ["\n"], 7)
    assert (sampling.n, sampling.presence_penalty, sampling.frequency_penalty, sampling.json_object) == (
        2, 1, -1, True)
    choices = response.json()["choices"]
    assert [c["index"] for c in choices] == [0, 1]
    assert all(c["finish_reason"] == "length" for c in choices)


def test_content_parts_and_developer_role_become_template_messages(client: TestClient, auth: dict[str, str],
                                                                   engine: FakeEngine) -> None:
    messages = [{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Capital?"}]
    assert chat(client, auth, messages=messages).status_code == 200
    assert engine.requests[-1].messages == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi\nthere"},
        {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Capital?"}]


def test_stream_is_sse_chunks_ending_with_done(client: TestClient, auth: dict[str, str]) -> None:
    response = chat(client, auth, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Paris is the capital."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_usage_comes_last_when_asked(client: TestClient, auth: dict[str, str]) -> None:
    response = chat(client, auth, stream=True, stream_options={"include_usage": True})
    chunks = [json.loads(e) for e in sse_events(response.text)[:-1]]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11}


def test_fields_openai_defines_that_do_not_apply_here_are_accepted(client: TestClient, auth: dict[str, str]) -> None:
    response = chat(client, auth, user="u-1", metadata={"k": "v"}, store=False, service_tier="auto",
                    prompt_cache_key="k", prompt_cache_retention="24h", safety_identifier="s", verbosity="low",
                    modalities=["text"], prediction={"type": "content", "content": "x"}, reasoning_effort="low",
                    parallel_tool_calls=True, logit_bias={"7": 2}, audio=None, web_search_options=None)
    assert response.status_code == 200, response.text


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(("body", "param"), [
    ({"temperature": 5}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"messages": []}, "messages"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"n": 0}, "n"),
    ({"presence_penalty": 3}, "presence_penalty"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0]"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, "messages[0].content[0]"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"frobnicate": True}, "frobnicate"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),  # fake-chat has no tools capability
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"store": True}, "store"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool_choice"),
    ({"tools": [TOOL, TOOL]}, "tools[1].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nope"}}}]},
     "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "no spaces allowed"}}]}, "tools[0].function.name"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"minimum": "zero"}}}},
     "response_format.json_schema.schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, "response_format.json_schema.name"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x", "tool_call_id": "c1"}]},
     "messages[1].tool_call_id"),
    ({"logit_bias": {"x": 1}}, "logit_bias"),
    ({"logit_bias": {"1": 101}}, "logit_bias"),
])
def test_invalid_requests_are_400_naming_the_parameter(client: TestClient, auth: dict[str, str],
                                                       body: dict[str, object], param: str) -> None:
    response = chat(client, auth, **body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


def test_missing_model_is_a_missing_parameter(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/chat/completions", headers=auth, json={"messages": QUESTION})
    assert response.status_code == 400
    assert response.json()["error"] == {"message": "Missing required parameter: 'model'.",
                                        "type": "invalid_request_error", "param": "model", "code": None}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400(client: TestClient, auth: dict[str, str], raw: bytes) -> None:
    response = client.post("/v1/chat/completions", headers={**auth, "content-type": "application/json"},
                           content=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_model_is_404_model_not_found(client: TestClient, auth: dict[str, str]) -> None:
    response = chat(client, auth, model="no-such-model")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert "no-such-model" in response.json()["error"]["message"]


def test_a_model_without_chat_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    response = chat(client, auth, model="fake-embed")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_supported"


def test_images_need_a_vision_model(client: TestClient, auth: dict[str, str]) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    response = chat(client, auth, messages=[{"role": "user", "content": [image]}])
    assert response.status_code == 400
    assert "vision" in response.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_engine_refusal_keeps_its_status(client: TestClient, auth: dict[str, str], engine: FakeEngine,
                                         stream: bool) -> None:
    engine.fail_with = InvalidRequestError("too long for this model", param="messages",
                                           code="context_length_exceeded")
    response = chat(client, auth, stream=stream)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_max_tokens_beyond_the_context_is_400(client: TestClient, auth: dict[str, str]) -> None:
    response = chat(client, auth, max_tokens=1000)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_tokens"


@pytest.mark.parametrize("stream", [False, True])
def test_engine_crash_is_500_without_internals(client: TestClient, auth: dict[str, str], engine: FakeEngine,
                                               stream: bool) -> None:
    engine.fail_with = RuntimeError("CUDA exploded at /secret/path")
    response = chat(client, auth, stream=stream)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert "secret" not in response.text and "CUDA" not in response.text
    assert response.headers["x-request-id"] in error["message"]
