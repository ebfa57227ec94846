from __future__ import annotations

from starlette.testclient import TestClient

from serve_app.catalog import Catalog
from tests.fakes import FakeEngine


def test_health_is_200_when_every_model_answers(client: TestClient, catalog: Catalog) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    models = dict.fromkeys((entry.id for entry in catalog.models), "up")
    assert response.json() == {"status": "ok", "models": models, "unavailable": []}


def test_health_is_503_naming_the_models_down(client: TestClient, engine: FakeEngine) -> None:
    engine.healthy = False
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["unavailable"] == ["fake-chat"]
