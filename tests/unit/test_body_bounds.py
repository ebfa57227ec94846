"""Bodies built to cost the ingress: refused from the shape of their JSON, before validation or any other work,
with a 400 naming the array; and nothing of them reaches an engine or the ledger."""

from __future__ import annotations

import base64
import io
import json
import time
import zlib
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from serve_app.body_bounds import BodyBounds
from serve_app.errors import InvalidRequestError
from serve_app.settings import Settings
from tests.fakes import FakeEngine


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings, with the platform's default body and image sizes."""
    return settings.model_copy(update={"max_body_bytes": Settings.model_fields["max_body_bytes"].default,
                                       "max_image_bytes": Settings.model_fields["max_image_bytes"].default})


BOUNDS = BodyBounds(max_messages=2048, max_content_parts=512, max_token_ids=1_000_000)


def refused(payload: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as raised:
        BOUNDS.check(payload)
    assert raised.value.code == "array_above_max_length"
    return raised.value


def test_each_array_is_bounded_and_named() -> None:
    assert refused({"messages": [{}] * 2049}).param == "messages"
    parts = [{"type": "text", "text": ""}] * 513
    assert refused({"messages": [{"role": "user", "content": "x"}, {"content": parts}]}).param == "messages[1].content"
    assert refused({"tools": [{}] * 129}).param == "tools"
    assert refused({"input": ["a"] * 2049}).param == "input"
    assert refused({"prompt": [[1, 2]] * 2049}).param == "prompt"
    assert refused({"prompt": [[1] * 600_000, [2] * 400_001]}).param == "prompt"
    assert refused({"prompt": [1] * 1_000_001}).param == "prompt"
    message = str(refused({"messages": [{}] * 3000}))
    assert "maximum length 2048" in message and "length 3000" in message


def test_bodies_within_the_bounds_pass_whatever_their_types() -> None:
    for payload in ({"messages": [{}] * 2048, "tools": [{}] * 128}, {"input": "x" * 10_000},
                    {"prompt": [1] * 1_000_000}, {"prompt": [[1] * 1000] * 1000}, {"messages": "not a list"},
                    {"messages": [{"content": {"not": "a list"}}, 3, None]}, {"prompt": []}):
        BOUNDS.check(payload)


def test_half_a_million_empty_messages_are_refused_for_the_price_of_a_parse(
        client: TestClient, auth: dict[str, str], engine: FakeEngine) -> None:
    body = json.dumps({"model": "fake-chat", "messages": [{"role": "user", "content": ""}] * 450_000})
    started = time.monotonic()
    response = client.post("/v1/chat/completions", headers={**auth, "content-type": "application/json"},
                           content=body)
    took = time.monotonic() - started
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == ("messages", "array_above_max_length",
                                                             "invalid_request_error")
    assert engine.requests == []
    print(f"450,000 empty messages ({len(body) / 1e6:.1f} MB) refused in {took:.2f} s")
    assert took < 10  # a stall bound, not a timing: validation of every message took seconds


def test_the_body_is_still_validated_strictly_as_json(client: TestClient, auth: dict[str, str]) -> None:
    for body, param in (('{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "n": true}', "n"),
                        ('{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "n": "2"}', "n"),
                        ('{"model": "fake-chat", "messages": [], "temperature": 1e400}', None)):
        response = client.post("/v1/chat/completions", headers={**auth, "content-type": "application/json"},
                               content=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param


def png_bomb(width: int, height: int) -> str:
    """A PNG of ``width`` x ``height`` black pixels: a small file (the rows compress to almost nothing)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit grey
    rows = zlib.compress(b"\0" * (width + 1) * 64, 9)  # 64 rows; the header's height is what decoders trust
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_decompression_bomb_is_refused_from_its_header(client: TestClient, auth: dict[str, str],
                                                         vision: FakeEngine) -> None:
    url = png_bomb(13_000, 13_000)
    assert len(url) < 100_000
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    response = client.post("/v1/chat/completions", headers=auth,
                           json={"model": "fake-vision", "messages": [{"role": "user", "content": content}]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("messages[0].content[1].image_url.url", "image_too_large")
    assert "13000x13000" in error["message"]
    assert vision.requests == []


def test_an_ordinary_large_image_passes(client: TestClient, auth: dict[str, str], vision: FakeEngine) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000)).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    content = [{"type": "image_url", "image_url": {"url": url}}]
    response = client.post("/v1/chat/completions", headers=auth,
                           json={"model": "fake-vision", "messages": [{"role": "user", "content": content}]})
    assert response.status_code == 200, response.text
    assert len(vision.requests) == 1
