"""The admin audit log: every admin action that changes something, once it has succeeded, with who, what, when,
from where and on what; never a key's secret; readable by admins only."""

from __future__ import annotations

import json

from sqlalchemy import text
from starlette.testclient import TestClient

from serve_app.database import connect
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def entries(client: TestClient) -> list[dict[str, object]]:
    response = client.get("/admin/v1/audit", headers=ADMIN)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


def test_key_actions_are_audited_without_their_secrets(client: TestClient, settings: Settings) -> None:
    created = client.post("/admin/v1/keys", json={"name": "audited", "tier": "starter"}, headers=ADMIN).json()
    key_id = created["id"]
    assert client.patch(f"/admin/v1/keys/{key_id}", json={"owner": "team-a"}, headers=ADMIN).status_code == 200
    rotated = client.post(f"/admin/v1/keys/{key_id}/rotate", headers=ADMIN).json()
    assert client.delete(f"/admin/v1/keys/{key_id}", headers=ADMIN).status_code == 200
    assert client.delete("/admin/v1/keys/key_nope", headers=ADMIN).status_code == 404  # a failure is no action
    logged = [(e["actor"], e["action"], e["target"], e["address"]) for e in entries(client)]
    assert logged == [
        ("admin-token", "POST /admin/v1/keys", key_id, "testclient"),
        ("admin-token", "PATCH /admin/v1/keys/{key_id}", key_id, "testclient"),
        ("admin-token", "POST /admin/v1/keys/{key_id}/rotate", key_id, "testclient"),
        ("admin-token", "DELETE /admin/v1/keys/{key_id}", key_id, "testclient"),
    ]
    with connect(settings).connect() as db:
        stored = json.dumps([list(row) for row in db.execute(text("SELECT * FROM admin_audit_log"))])
    assert created["key"] not in stored and rotated["key"] not in stored and "sk-" not in stored


def test_status_actions_are_audited(client: TestClient) -> None:
    window = client.post("/admin/v1/maintenance", headers=ADMIN, json={
        "title": "Driver upgrade", "models": ["fake-chat"], "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-01T01:00:00Z"})
    assert window.status_code == 200, window.text
    assert [(e["action"], e["target"]) for e in entries(client)] == [("POST /admin/v1/maintenance",
                                                                     window.json()["id"])]


def test_reads_are_not_actions_and_the_log_is_for_admins(client: TestClient, auth: dict[str, str]) -> None:
    before = entries(client)  # the `auth` fixture created a key
    client.get("/admin/v1/keys", headers=ADMIN)
    client.get("/admin/v1/usage", headers=ADMIN)
    assert entries(client) == before and [e["action"] for e in before] == ["POST /admin/v1/keys"]
    assert client.get("/admin/v1/audit", headers=auth).status_code == 401
    assert client.get("/admin/v1/audit").status_code == 401
    assert client.get("/admin/v1/audit?limit=0", headers=ADMIN).json()["error"]["param"] == "limit"
