"""Rerank in Cohere's shape: ranked results, documents as strings or objects, usage as the engine counts it,
metered, guarded (documents are where indirect prompt injection comes from), and bad input as 400s naming the
field."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from serve_app.settings import Settings
from tests.fakes import FakeEmbedder
from tests.unit.test_guard_policy import ATTACK, ledger_rows, new_key

DOCUMENTS = ["the weather is sunny today", "cats purr when they are happy", "stock markets fell sharply"]


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder(dimensions=256)  # few hash collisions between the words of these documents


def rerank(client: TestClient, auth: dict[str, str], path: str = "/v1/rerank", **body: Any) -> Any:
    return client.post(path, headers=auth, json={"model": "fake-embed", "query": "why do cats purr",
                                                 "documents": DOCUMENTS, **body})


@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank"])
def test_the_relevant_document_comes_first(client: TestClient, auth: dict[str, str], embedder: FakeEmbedder,
                                           path: str) -> None:
    response = rerank(client, auth, path)
    assert response.status_code == 200, response.text
    answer = response.json()
    results = answer["results"]
    assert results[0]["index"] == 1
    assert sorted(result["index"] for result in results) == [0, 1, 2]
    scores = [result["relevance_score"] for result in results]
    assert scores == sorted(scores, reverse=True) and all(0 <= score <= 1 for score in scores)
    assert "document" not in results[0]
    tokens = 4 + sum(len(document.split()) for document in DOCUMENTS)
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert answer["meta"]["tokens"] == {"input_tokens": tokens, "output_tokens": 0}
    assert answer["model"] == "fake-embed" and answer["id"].startswith("rerank-")
    assert embedder.reranks[-1].documents == DOCUMENTS


def test_top_n_and_documents_returned(client: TestClient, auth: dict[str, str]) -> None:
    documents = [{"text": text} for text in DOCUMENTS]
    results = rerank(client, auth, documents=documents, top_n=1, return_documents=True).json()["results"]
    assert results == [{"index": 1, "relevance_score": results[0]["relevance_score"],
                        "document": {"text": DOCUMENTS[1]}}]


def test_rerank_is_metered_as_the_engine_counted(client: TestClient, settings: Settings) -> None:
    key_id, auth = new_key(client)
    usage = rerank(client, auth).json()["usage"]
    assert ledger_rows(settings, key_id, 1) == [{"outcome": "completed", "prompt_tokens": usage["prompt_tokens"],
                                                 "completion_tokens": 0}]


def test_an_injection_in_a_document_is_blocked(client: TestClient, auth: dict[str, str],
                                               embedder: FakeEmbedder) -> None:
    response = rerank(client, auth, documents=[DOCUMENTS[0], ATTACK])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "prompt_injection_detected"
    assert embedder.reranks == []


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"documents": []}, "documents", "invalid_value"),
    ({"documents": ["fine", "   "]}, "documents[1]", "invalid_value"),
    ({"documents": ["x"] * 1001}, "documents", "array_above_max_length"),
    ({"query": ""}, "query", "invalid_value"),
    ({"top_n": 0}, "top_n", "invalid_value"),
    ({"model": "fake-chat"}, "model", "model_not_supported"),
    ({"rank_fields": ["text"]}, "rank_fields", None),
])
def test_bad_requests_are_400s_naming_the_field(client: TestClient, auth: dict[str, str], body: dict[str, Any],
                                                param: str, code: str | None) -> None:
    response = rerank(client, auth, **body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_a_document_too_long_for_the_model_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    response = rerank(client, auth, documents=["word " * 40])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
