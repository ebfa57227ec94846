from __future__ import annotations

from starlette.testclient import TestClient

from tests.fakes import FakeEngine


def test_health_is_200_when_every_model_answers(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "models": {"fake-chat": "up", "fake-embed": "up"},
                               "unavailable": []}


def test_health_is_503_naming_the_models_down(client: TestClient, engine: FakeEngine) -> None:
    engine.healthy = False
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["unavailable"] == ["fake-chat"]
