from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from serve_app.catalog import Catalog
from serve_app.governance.meter import MeterCore
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeEngine

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_created_key_is_shown_once_and_listed_without_secret(client: TestClient) -> None:
    created = client.post("/admin/v1/keys", json={"name": "billing-app"}, headers=ADMIN).json()
    assert created["key"].startswith("sk-") and created["id"].startswith("key_")
    assert created["name"] == "billing-app"
    listed = client.get("/admin/v1/keys", headers=ADMIN).json()["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert created["key"] not in str(listed)
    assert listed[0]["revoked"] is False


def test_keys_are_stored_only_as_hashes(client: TestClient, settings: Settings) -> None:
    secret = client.post("/admin/v1/keys", json={"name": "a"}, headers=ADMIN).json()["key"]
    for path in settings.data_dir.iterdir():
        assert secret.encode() not in path.read_bytes()


def test_revoked_key_stops_working(client: TestClient, api_key: str, auth: dict[str, str]) -> None:
    assert client.get("/v1/models", headers=auth).status_code == 200
    key_id = client.get("/admin/v1/keys", headers=ADMIN).json()["data"][0]["id"]
    deleted = client.delete(f"/admin/v1/keys/{key_id}", headers=ADMIN)
    assert deleted.json() == {"id": key_id, "object": "api_key.deleted", "deleted": True}
    response = client.get("/v1/models", headers=auth)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/admin/v1/keys", headers=ADMIN).json()["data"][0]["revoked"] is True


def test_revoking_an_unknown_key_is_404(client: TestClient) -> None:
    response = client.delete("/admin/v1/keys/key_nope", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "key_not_found"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
def test_admin_calls_need_the_admin_token(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/admin/v1/keys", headers=headers).status_code == 401
    assert client.post("/admin/v1/keys", json={"name": "x"}, headers=headers).status_code == 401


def test_an_api_key_is_not_an_admin_token(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/admin/v1/keys", headers=auth).status_code == 401


def test_admin_api_is_off_without_a_token(tmp_path: Path, catalog: Catalog) -> None:
    app = build_asgi_app(Settings(data_dir=tmp_path), catalog, {"fake-chat": FakeEngine()},
                         MeterCore(Settings(data_dir=tmp_path)))
    with TestClient(app) as client:
        response = client.get("/admin/v1/keys", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "admin_disabled"


def test_create_key_validates_its_body(client: TestClient) -> None:
    response = client.post("/admin/v1/keys", json={"name": ""}, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "name"


@pytest.mark.parametrize(("headers", "code"), [
    ({}, None),
    ({"Authorization": "Bearer sk-not-a-real-key-at-all"}, "invalid_api_key"),
])
def test_v1_calls_need_a_valid_key(client: TestClient, headers: dict[str, str], code: str | None) -> None:
    for response in (client.get("/v1/models", headers=headers),
                     client.post("/v1/chat/completions", headers=headers, json={})):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert response.json()["error"]["code"] == code
        assert "sk-not-a-real-key-at-all" not in response.text


def test_keys_survive_a_new_app_on_the_same_data_dir(settings: Settings, catalog: Catalog) -> None:
    with TestClient(build_asgi_app(settings, catalog, {}, MeterCore(settings))) as first:
        secret = first.post("/admin/v1/keys", json={"name": "a"}, headers=ADMIN).json()["key"]
    with TestClient(build_asgi_app(settings, catalog, {}, MeterCore(settings))) as second:
        assert second.get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
