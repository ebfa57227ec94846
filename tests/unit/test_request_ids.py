"""The platform's own request ids: a client's x-request-id is a label, never the id usage is metered by."""

from __future__ import annotations

import os

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.ray_env import REQUIRED_SERVE_ENV, use_serve_env
from serve_app.request_ids import MAX_CLIENT_REQUEST_ID_CHARS, ClientRequestIdMiddleware, serve_middlewares


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"request_ids": request.headers.getlist("x-request-id"),
                         "client": request.headers.getlist("x-client-request-id")})


def client() -> httpx.AsyncClient:
    app = ClientRequestIdMiddleware(Starlette(routes=[Route("/", echo)]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_every_request_gets_a_fresh_id_of_the_platforms_whatever_the_client_sends() -> None:
    async with client() as http:
        seen = [(await http.get("/", headers={"X-Request-ID": "same"})).json() for _ in range(3)]
    ids = [answer["request_ids"] for answer in seen]
    assert all(len(one) == 1 and one[0].startswith("req_") and len(one[0]) == 36 for one in ids)
    assert len({one[0] for one in ids}) == 3
    assert all(answer["client"] == ["same"] for answer in seen)


async def test_the_clients_label_is_echoed_and_repeated_headers_do_not_pass() -> None:
    async with client() as http:
        response = await http.get("/", headers=[("x-request-id", "a"), ("x-request-id", "b"),
                                                ("x-client-request-id", "mine")])
    assert response.json()["request_ids"][0] != "a" and len(response.json()["request_ids"]) == 1
    assert response.json()["client"] == ["mine"]
    assert response.headers["x-client-request-id"] == "mine"


@pytest.mark.parametrize("label", ["x" * (MAX_CLIENT_REQUEST_ID_CHARS + 1), "caf\u00e9", "tab\there"])
async def test_an_unusable_label_is_dropped(label: str) -> None:
    async with client() as http:
        response = await http.get("/", headers=[(b"x-request-id", label.encode())])
    assert response.json()["client"] == [] and "x-client-request-id" not in response.headers
    assert response.json()["request_ids"][0].startswith("req_")


def test_serve_runs_it_ahead_of_its_own_request_id_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH", "operators.own:callback")
    use_serve_env()
    assert os.environ["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"] == "serve_app.request_ids:serve_middlewares"
    module, name = REQUIRED_SERVE_ENV["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"].split(":")
    from ray.serve._private.http_util import _apply_middlewares, validate_http_proxy_callback_return

    assert name == "serve_middlewares" and module == "serve_app.request_ids"
    middlewares = validate_http_proxy_callback_return(serve_middlewares())
    app = _apply_middlewares(Starlette(routes=[Route("/", echo)]), middlewares)
    assert isinstance(app, ClientRequestIdMiddleware)  # outermost: Serve's own middleware sees the platform's id


async def test_serves_own_middleware_echoes_the_platforms_id() -> None:
    from ray.serve._private.http_util import _apply_middlewares

    app = _apply_middlewares(Starlette(routes=[Route("/", echo)]), serve_middlewares())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get("/", headers={"X-Request-ID": "client-chosen"})
    assert response.headers.get_list("x-request-id") == response.json()["request_ids"]
    assert response.json()["request_ids"][0].startswith("req_")
    assert response.headers["x-client-request-id"] == "client-chosen"
