from __future__ import annotations

from collections.abc import Iterator

from starlette.testclient import TestClient

from serve_app.settings import Settings
from tests.fakes import FakeEngine


def test_unknown_route_is_an_openai_404_with_request_id(client: TestClient) -> None:
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"].startswith("req_")


def test_wrong_method_is_405_in_openai_shape(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/chat/completions", headers=auth)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_request_ids_differ(client: TestClient) -> None:
    assert client.get("/health").headers["x-request-id"] != client.get("/health").headers["x-request-id"]


def test_an_id_given_upstream_is_the_one_errors_name(client: TestClient, auth: dict[str, str],
                                                     engine: FakeEngine) -> None:
    engine.fail_with = RuntimeError("boom")
    body = {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]}
    response = client.post("/v1/chat/completions", headers={**auth, "x-request-id": "abc-123"}, json=body)
    assert response.status_code == 500
    assert "abc-123" in response.json()["error"]["message"]


def test_declared_oversize_body_is_413(client: TestClient, auth: dict[str, str], settings: Settings) -> None:
    big = b"x" * (settings.max_body_bytes + 1)
    response = client.post("/v1/chat/completions", headers=auth, content=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert response.headers["x-request-id"]


def test_streamed_oversize_body_is_413(client: TestClient, auth: dict[str, str], settings: Settings) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b"x" * 1024

    response = client.post("/v1/chat/completions", headers=auth, content=chunks())
    assert response.status_code == 413
