from __future__ import annotations

from starlette.testclient import TestClient

from serve_app.catalog import Catalog


def test_models_list_shows_capabilities_and_context(client: TestClient, auth: dict[str, str],
                                                    catalog: Catalog) -> None:
    body = client.get("/v1/models", headers=auth).json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert list(by_id) == [entry.id for entry in catalog.models]
    assert by_id["fake-chat"]["object"] == "model"
    assert by_id["fake-chat"]["capabilities"] == ["chat", "completions"]
    assert by_id["fake-chat"]["context_length"] == 64
    assert isinstance(by_id["fake-chat"]["created"], int) and by_id["fake-chat"]["owned_by"]


def test_retrieve_one_model(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/v1/models/fake-embed", headers=auth).json()["capabilities"] == ["embeddings", "rerank"]


def test_retrieve_unknown_model_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/models/gpt-5", headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
