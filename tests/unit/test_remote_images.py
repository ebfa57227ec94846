"""Remote images of the allow-list are fetched by the ingress, from checked addresses, without redirects, within
bounds; the engine gets bytes. Each attack is tried against a listener of the test's own on loopback, and the
listener's log shows what reached it."""

from __future__ import annotations

import base64
import http.server
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from serve_app.chat.remote_images import RemoteImages, is_public
from serve_app.errors import InvalidRequestError
from serve_app.settings import Settings
from tests.fakes import FakeEngine
from tests.support.background_server import serving
from tests.unit.test_images import image_url

PNG = base64.b64decode(image_url("PNG").partition(",")[2])


class Listener(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []

    @property
    def base(self) -> str:
        return f"http://localhost:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Listener

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.path == "/cat.png":
            self._answer(200, PNG)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
        elif self.path == "/huge.png":
            self._answer(200, PNG + b"\0" * 2_000_000)
        elif self.path == "/slow.png":
            time.sleep(3)
            self._answer(200, PNG)
        else:
            self._answer(404, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[Listener]:
    with serving(Listener()) as server:
        yield server


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"image_url_allowed_hosts": frozenset({"localhost", "images.example.org"}),
                                       "image_url_allow_private": True, "max_image_bytes": 1_000_000})


def ask(client: TestClient, auth: dict[str, str], url: str) -> Any:
    content = [{"type": "text", "text": "What colour?"}, {"type": "image_url", "image_url": {"url": url}}]
    return client.post("/v1/chat/completions", headers=auth,
                       json={"model": "fake-vision", "messages": [{"role": "user", "content": content}]})


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_an_allowed_image_reaches_the_engine_as_bytes(client: TestClient, auth: dict[str, str], vision: FakeEngine,
                                                       listener: Listener) -> None:
    response = ask(client, auth, f"{listener.base}/cat.png")
    assert response.status_code == 200, response.text
    assert listener.paths == ["/cat.png"]
    sent = vision.requests[-1].messages[0]["content"][1]["image_url"]["url"]
    assert sent == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_redirects_are_not_followed(client: TestClient, auth: dict[str, str], vision: FakeEngine,
                                    listener: Listener) -> None:
    assert error(ask(client, auth, f"{listener.base}/redirect")) == (400, "image_url_not_allowed")
    assert listener.paths == ["/redirect"] and vision.requests == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}\\@images.example.org/cat.png",
                                 "http://user:pass@images.example.org/cat.png",
                                 "http://images.example.org@127.0.0.1:{port}/cat.png",
                                 "gopher://localhost:{port}/cat.png"])
def test_urls_that_parsers_read_differently_are_refused_unfetched(client: TestClient, auth: dict[str, str],
                                                                  vision: FakeEngine, listener: Listener,
                                                                  url: str) -> None:
    status, code = error(ask(client, auth, url.format(port=listener.server_address[1])))
    assert status == 400 and code in {"invalid_image_url", "image_url_not_allowed"}
    assert listener.paths == [] and vision.requests == []


def test_an_image_over_the_size_limit_is_cut_off(client: TestClient, auth: dict[str, str], listener: Listener) -> None:
    assert error(ask(client, auth, f"{listener.base}/huge.png")) == (400, "image_too_large")


def test_a_host_that_does_not_answer_is_400_unreachable(client: TestClient, auth: dict[str, str]) -> None:
    assert error(ask(client, auth, "http://localhost:9/cat.png")) == (400, "image_url_unreachable")


async def test_private_addresses_are_refused_before_any_connection(listener: Listener) -> None:
    remote = RemoteImages(frozenset({"localhost", "images.example.org"}), 1_000_000)
    with pytest.raises(InvalidRequestError) as refused:
        await remote.fetch(f"{listener.base}/cat.png", "p")
    assert refused.value.code == "image_url_not_allowed"

    async def metadata_service(host: str, port: int) -> list[str]:
        return ["203.0.113.10", "169.254.169.254"]  # one public, one link-local: refused

    with pytest.raises(InvalidRequestError):
        await RemoteImages(frozenset({"images.example.org"}), 1_000_000, resolver=metadata_service).fetch(
            "http://images.example.org/cat.png", "p")
    assert listener.paths == []


async def test_a_slow_host_is_bounded_in_time(listener: Listener) -> None:
    remote = RemoteImages(frozenset({"localhost"}), 1_000_000, allow_private=True, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(InvalidRequestError) as refused:
        await remote.fetch(f"{listener.base}/slow.png", "p")
    assert refused.value.code == "image_url_unreachable" and time.monotonic() - started < 2.5


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("::1", False), ("::ffff:127.0.0.1", False), ("fe80::1%eth0", False), ("fd00::1", False), ("0.0.0.0", False),
    ("2606:4700:4700::1111", True), ("224.0.0.1", False)])
def test_which_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public(address) is public
