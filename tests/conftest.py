from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from serve_app.catalog import Catalog
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.fakes import FakeEmbedder, FakeEngine

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, max_body_bytes=64 * 1024,
                    key_cache_seconds=0, health_timeout_seconds=1)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.model_validate({"models": [
        {"id": "fake-chat", "family": "Fake", "engine": "vllm", "source": "none",
         "capabilities": ["chat", "completions"], "context_length": 64},
        {"id": "fake-embed", "family": "Fake", "engine": "sentence-transformers", "source": "none",
         "capabilities": ["embeddings"], "context_length": 64},
    ]})


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def client(settings: Settings, catalog: Catalog, engine: FakeEngine, embedder: FakeEmbedder) -> Iterator[TestClient]:
    app = build_asgi_app(settings, catalog, {"fake-chat": engine, "fake-embed": embedder})
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api_key(client: TestClient) -> str:
    response = client.post("/admin/v1/keys", json={"name": "tests"},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.text
    return str(response.json()["key"])


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
