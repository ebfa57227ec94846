"""Every admin route, read from the app's own route table, against every kind of caller: no credentials, an API key,
a wrong token, the admin token. A route added later is checked without a line here."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from tests.conftest import ADMIN_TOKEN


def admin_routes(app: ASGIApp) -> list[tuple[str, str]]:
    starlette = app.app  # type: ignore[attr-defined]  # inside the request-context middleware
    pairs = []
    for route in starlette.routes:
        if isinstance(route, Route) and route.path.startswith("/admin/"):
            path = re.sub(r"\{[^}]+\}", "some_id", route.path)
            pairs += [(method, path) for method in sorted((route.methods or set()) - {"HEAD"})]
    return pairs


@pytest.mark.parametrize(("caller", "allowed"), [("none", False), ("api-key", False), ("wrong-token", False),
                                                 ("admin-token", True)])
def test_admin_routes_by_caller(app: ASGIApp, client: TestClient, api_key: str, caller: str, allowed: bool) -> None:
    headers = {"none": {}, "api-key": {"Authorization": f"Bearer {api_key}"},
               "wrong-token": {"Authorization": "Bearer not-the-admin-token"},
               "admin-token": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}[caller]
    routes = admin_routes(app)
    assert len(routes) >= 12, routes
    for method, path in routes:
        status = client.request(method, path, headers=headers, json={}).status_code
        if allowed:
            assert status not in {401, 403}, (method, path, status)
        else:
            assert status == 401, (method, path, status)
