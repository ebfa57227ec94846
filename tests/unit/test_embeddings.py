from __future__ import annotations

import base64
import time

import numpy as np
import pytest
from starlette.testclient import TestClient

from serve_app.embeddings.serving import SLICE
from tests.fakes import FakeEmbedder


def embed(client: TestClient, auth: dict[str, str], **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/embeddings", headers=auth, json={"model": "fake-embed", **body})


def test_a_string_is_embedded_with_usage(client: TestClient, auth: dict[str, str]) -> None:
    body = embed(client, auth, input="the cat sat").json()
    assert body["object"] == "list" and body["model"] == "fake-embed"
    assert len(body["data"]) == 1 and body["data"][0]["object"] == "embedding" and body["data"][0]["index"] == 0
    assert len(body["data"][0]["embedding"]) == 8
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


@pytest.mark.parametrize("value", [["a b", "c"], [1, 2, 3], [[1, 2], [3]]])
def test_every_input_form_is_accepted(client: TestClient, auth: dict[str, str], value: object) -> None:
    response = embed(client, auth, input=value)
    assert response.status_code == 200
    expected = 1 if isinstance(value, list) and isinstance(value[0], int) else len(value)  # type: ignore[arg-type]
    assert [d["index"] for d in response.json()["data"]] == list(range(expected))


def test_base64_decodes_to_the_float_vectors(client: TestClient, auth: dict[str, str]) -> None:
    floats = embed(client, auth, input=["one two", "three"]).json()["data"]
    encoded = embed(client, auth, input=["one two", "three"], encoding_format="base64").json()["data"]
    for plain, packed in zip(floats, encoded, strict=True):
        decoded = np.frombuffer(base64.b64decode(packed["embedding"]), dtype="<f4")
        assert np.allclose(decoded, plain["embedding"])
        # the JSON floats are the engine's float32 values exactly, not rounded
        assert np.array(plain["embedding"], dtype=np.float32).tobytes() == decoded.tobytes()


def test_large_requests_are_sliced_and_reassembled_in_order(client: TestClient, auth: dict[str, str],
                                                            embedder: FakeEmbedder) -> None:
    inputs = [f"word{i}" for i in range(2 * SLICE + 5)]
    body = embed(client, auth, input=inputs).json()
    assert [len(call.inputs) for call in embedder.calls] == [SLICE, SLICE, 5]
    assert [d["index"] for d in body["data"]] == list(range(len(inputs)))
    single = embed(client, auth, input=inputs[-1]).json()["data"][0]["embedding"]
    assert body["data"][-1]["embedding"] == single
    assert body["usage"]["prompt_tokens"] == len(inputs)


@pytest.mark.parametrize(("body", "param"), [
    ({"input": ""}, "input"),
    ({"input": []}, "input"),
    ({"input": ["ok", ""]}, "input[1]"),
    ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
    ({"input": "x", "dimensions": 0}, "dimensions"),
    ({"input": "x", "dimensions": 3}, "dimensions"),
    ({"input": " ".join(["w"] * 40)}, "input"),
    ({"input": "x", "nope": 1}, "nope"),
])
def test_invalid_embedding_requests_are_400(client: TestClient, auth: dict[str, str], body: dict[str, object],
                                            param: str) -> None:
    response = embed(client, auth, **body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_a_chat_model_cannot_embed(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/embeddings", headers=auth, json={"model": "fake-chat", "input": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_supported"


def test_slices_encoded_before_another_failed_are_metered(client: TestClient, auth: dict[str, str],
                                                          embedder: FakeEmbedder) -> None:
    inputs = ["one two"] * (2 * SLICE) + ["word " * (embedder.max_tokens + 1)]  # the third slice fails
    response = embed(client, auth, input=inputs)
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"
    deadline = time.monotonic() + 10
    totals = client.get("/v1/usage", headers=auth).json()["totals"]
    while not totals["requests"] and time.monotonic() < deadline:
        time.sleep(0.05)
        totals = client.get("/v1/usage", headers=auth).json()["totals"]
    assert totals["requests"] == 1 and totals["prompt_tokens"] == 2 * SLICE * 2  # two words per encoded input
