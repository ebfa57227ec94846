"""Hostile traffic against the real platform (two ingress replicas, real engines), each attack while a normal
stream runs beside it: the attack is refused or bounded, the stream keeps receiving tokens, ``/v1/models``
keeps answering at once and ``/health`` stays 200. Bounds are generous (seconds): they catch stalls, they do
not time anything. The figures are printed."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Platform
from tests.unit.test_body_bounds import png_bomb
from tests.unit.test_images import image_url

pytestmark = pytest.mark.integration
SMOL = "SmolLM2-135M-Instruct"
STALL_S = 5.0  # nothing a client does may keep another client waiting this long
AFTER_S = 3.0  # the stream beside is read at least this long from the attack's start


@dataclass
class Beside:
    """A normal client beside the attacker: one stream being read, and ``/v1/models`` and ``/health`` polled."""

    platform: Platform
    key: str
    chunk_times: list[float] = field(default_factory=list)
    models_waits: list[float] = field(default_factory=list)
    health: Counter[int] = field(default_factory=Counter)
    stream_error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def _stream(self) -> None:
        sdk = openai.OpenAI(api_key=self.key, base_url=f"{self.platform.base_url}/v1", max_retries=0, timeout=120)
        try:
            while not self._stop.is_set():
                for _ in sdk.chat.completions.create(model=SMOL, stream=True, max_tokens=64, messages=[
                        {"role": "user", "content": "Tell me about the history of Paris."}]):
                    self.chunk_times.append(time.monotonic())
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.stream_error = error

    def _poll(self) -> None:
        with httpx.Client(base_url=self.platform.base_url, timeout=60) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                assert http.get("/v1/models", headers={"Authorization": f"Bearer {self.key}"}).status_code == 200
                self.models_waits.append(time.monotonic() - started)
                self.health[http.get("/health").status_code] += 1
                time.sleep(0.1)

    @contextlib.contextmanager
    def running(self) -> Iterator[Beside]:
        threads = [threading.Thread(target=self._stream), threading.Thread(target=self._poll)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while not self.chunk_times and time.monotonic() < deadline:  # the stream flows before the attack
            time.sleep(0.1)
        attacked = time.monotonic()
        try:
            yield self
        finally:
            time.sleep(max(0.0, attacked + AFTER_S - time.monotonic()))  # the stream seen going on after a quick one
            self._stop.set()
            for thread in threads:
                thread.join(timeout=180)

    def check(self, during: tuple[float, float]) -> str:
        assert self.stream_error is None, repr(self.stream_error)
        assert self.models_waits and max(self.models_waits) < STALL_S, self.models_waits
        assert self.health[200] > 0 and set(self.health) == {200}, self.health
        inside = [t for t in self.chunk_times if during[0] <= t <= max(during[1], during[0] + AFTER_S)]
        gaps = [b - a for a, b in zip(self.chunk_times, self.chunk_times[1:], strict=False)]
        assert inside, "the stream received nothing during the attack or right after it"
        assert max(gaps) < STALL_S, max(gaps)
        return (f"/v1/models waited at most {max(self.models_waits):.3f} s (median "
                f"{sorted(self.models_waits)[len(self.models_waits) // 2]:.3f} s); the stream's longest gap "
                f"{max(gaps):.3f} s, {len(inside)} chunks during the attack; /health {dict(self.health)}")


@pytest.fixture
def beside(platform: Platform, api_key: str) -> Beside:
    return Beside(platform, api_key)


def test_half_a_million_messages_stall_nothing(platform: Platform, api_key: str, beside: Beside) -> None:
    body = json.dumps({"model": SMOL, "messages": [{"role": "user", "content": ""}] * 450_000})
    headers = {"Authorization": f"Bearer {api_key}", "content-type": "application/json"}
    with beside.running(), httpx.Client(base_url=platform.base_url, timeout=120) as http:
        started = time.monotonic()
        answers = [http.post("/v1/chat/completions", content=body, headers=headers) for _ in range(4)]
        during = (started, time.monotonic())
    for answer in answers:
        assert answer.status_code == 400, answer.text[:300]
        assert (answer.json()["error"]["param"], answer.json()["error"]["code"]) == ("messages",
                                                                                    "array_above_max_length")
    print(f"4 bodies of 450,000 messages ({len(body) / 1e6:.1f} MB) refused in {during[1] - during[0]:.2f} s; "
          + beside.check(during))


def test_a_decompression_bomb_never_reaches_the_vision_engine(platform: Platform, api_key: str,
                                                               beside: Beside) -> None:
    bomb = png_bomb(13_000, 13_000)
    sdk = openai.OpenAI(api_key=api_key, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=120)
    with beside.running():
        started = time.monotonic()
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model="tiny-idefics3", max_tokens=2, messages=[{"role": "user", "content": [
                {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": bomb}}]}])
        during = (started, time.monotonic())
    assert refused.value.code == "image_too_large" and "13000x13000" in refused.value.message
    print(f"a {len(bomb) / 1e3:.0f} KB PNG of 13,000 x 13,000 pixels refused in {during[1] - during[0]:.2f} s; "
          + beside.check(during))


class _Listener(http.server.ThreadingHTTPServer):
    """A listener of the test's own on loopback: what an SSRF would reach. It logs every request it gets."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        png = base64.b64decode(image_url("PNG").partition(",")[2])

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler) -> None:
                self.paths.append(handler.path)
                handler.send_response(200)
                handler.send_header("Content-Length", str(len(png)))
                handler.end_headers()
                handler.wfile.write(png)

            def log_message(handler, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_image_urls_cannot_reach_inside(platform: Platform, api_key: str) -> None:
    """The session allows remote images from ``localhost`` only: a loopback address it resolves to, a URL that
    parsers read differently, credentials in the URL are all refused, and the listener sees nothing."""
    assert "localhost" in platform.env["LLMAAS_IMAGE_URL_ALLOWED_HOSTS"].split(",")
    listener = _Listener()
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    port = listener.server_address[1]
    sdk = openai.OpenAI(api_key=api_key, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=120)
    try:
        for url in (f"http://localhost:{port}/cat.png", f"http://127.0.0.1:{port}\\@localhost/cat.png",
                    f"http://user@localhost:{port}/cat.png", f"http://127.0.0.1:{port}/cat.png",
                    f"http://[::ffff:127.0.0.1]:{port}/cat.png", "http://169.254.169.254/latest/meta-data"):
            with pytest.raises(openai.BadRequestError) as refused:
                sdk.chat.completions.create(model="tiny-idefics3", max_tokens=2, messages=[{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url}}]}])
            assert refused.value.code in {"image_url_not_allowed", "invalid_image_url"}, (url, refused.value)
    finally:
        listener.shutdown()
        listener.server_close()
    assert listener.paths == []


def test_forged_keys_from_one_address_are_throttled_and_nobody_else(platform: Platform) -> None:
    attacker = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), base_url=platform.base_url)
    with attacker:
        statuses = Counter(attacker.get("/v1/models", headers={
            "Authorization": f"Bearer sk-{secrets.token_urlsafe(24)}"}).status_code for _ in range(100))
        refused = attacker.get("/v1/models", headers={"Authorization": f"Bearer sk-{secrets.token_urlsafe(24)}"})
    assert set(statuses) == {401, 429} and statuses[401] <= 2 * 30, statuses  # 30 a minute per ingress replica
    assert refused.json()["error"]["code"] == "too_many_failed_authentications"
    _, fresh = platform.create_key("after-the-attack")  # a key never seen, from another address
    with httpx.Client(base_url=platform.base_url) as http:
        assert http.get("/v1/models", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    print(f"100 forged keys from one address: {dict(statuses)}")


def test_a_slow_upload_holds_its_slot_no_longer_than_the_body_timeout(platform: Platform, api_key: str) -> None:
    timeout = float(platform.env["LLMAAS_BODY_TIMEOUT_SECONDS"])
    port = int(platform.env["LLMAAS_HTTP_PORT"])
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {api_key}\r\n"
                            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                            '{"model": "tiny-llama", ').encode())
        started = time.monotonic()
        connection.settimeout(timeout + 60)
        head = connection.recv(4096)
        waited = time.monotonic() - started
        while b"}}" not in head:  # the body may come in a segment of its own
            more = connection.recv(4096)
            if not more:
                break
            head += more
    assert head.startswith(b"HTTP/1.1 408"), head[:200]
    assert b"request_timeout" in head
    assert waited < timeout + 30
    print(f"a body that stopped after 24 bytes: 408 after {waited:.1f} s (bound {timeout:g} s)")
