from __future__ import annotations

from starlette.routing import Route
from starlette.testclient import TestClient


def test_openapi_describes_every_route_with_request_schemas(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    chat = document["paths"]["/v1/chat/completions"]["post"]
    schema_name = chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    properties = document["components"]["schemas"][schema_name]["properties"]
    assert {"model", "messages", "temperature", "stream", "stream_options"} <= set(properties)
    assert properties["temperature"]["anyOf"][0]["maximum"] == 2


def test_every_served_route_is_described(client: TestClient) -> None:
    app = client.app
    starlette_app = app.app  # type: ignore[attr-defined]
    described = client.get("/openapi.json").json()["paths"]
    for route in starlette_app.routes:
        assert isinstance(route, Route)
        if route.path == "/openapi.json":
            continue
        path = route.path.replace(":path", "")
        assert path in described, path
        assert set(m.lower() for m in route.methods or ()) - {"head"} <= set(described[path]), path
