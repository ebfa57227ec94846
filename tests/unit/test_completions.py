from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from tests.fakes import FakeEngine


def complete(client: TestClient, auth: dict[str, str], **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/completions", headers=auth, json={"model": "fake-chat", **body})


def test_a_string_prompt_is_completed_with_usage(client: TestClient, auth: dict[str, str]) -> None:
    response = complete(client, auth, prompt="The capital of France is", max_tokens=3)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "text_completion"
    assert body["choices"] == [{"index": 0, "text": "Paris is the", "logprobs": None, "finish_reason": "length"}]
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_default_max_tokens_is_16_as_in_openai(client: TestClient, auth: dict[str, str],
                                               engine: FakeEngine) -> None:
    complete(client, auth, prompt="Hello")
    assert engine.requests[-1].sampling.max_tokens == 16


@pytest.mark.parametrize(("prompt", "expected"), [
    (["one", "two three"], ["one", "two three"]),
    ([1, 2, 3], [[1, 2, 3]]),
    ([[1, 2], [3]], [[1, 2], [3]]),
])
def test_prompt_lists_become_one_choice_each(client: TestClient, auth: dict[str, str], engine: FakeEngine,
                                             prompt: object, expected: list[object]) -> None:
    response = complete(client, auth, prompt=prompt, n=2)
    assert response.status_code == 200
    assert engine.requests[-1].prompts == expected
    assert [c["index"] for c in response.json()["choices"]] == list(range(2 * len(expected)))


def test_stream_with_usage(client: TestClient, auth: dict[str, str]) -> None:
    response = complete(client, auth, prompt="Hi", stream=True, stream_options={"include_usage": True})
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == "Paris is the capital."
    assert chunks[0]["choices"][0]["finish_reason"] is None
    assert chunks[-1]["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": ""}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": "x", "logprobs": 6}, "logprobs"),
    ({"prompt": "x", "suffix": "y"}, "suffix"),
    ({"prompt": "x", "temperature": -1}, "temperature"),
    ({}, "prompt"),
])
def test_invalid_completion_requests(client: TestClient, auth: dict[str, str], body: dict[str, object],
                                     param: str) -> None:
    response = complete(client, auth, **body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
