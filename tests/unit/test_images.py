from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from starlette.testclient import TestClient

from serve_app.settings import Settings
from tests.fakes import FakeEngine
from tests.unit.test_guard_policy import ledger_rows, new_key


def image_url(image_format: str = "PNG", size: int = 16) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buffer, format=image_format)
    return f"data:image/{image_format.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def ask(client: TestClient, auth: dict[str, str], url: str, model: str = "fake-vision"):  # type: ignore[no-untyped-def]
    content = [{"type": "text", "text": "What colour?"}, {"type": "image_url", "image_url": {"url": url}}]
    return client.post("/v1/chat/completions", headers=auth,
                       json={"model": model, "messages": [{"role": "user", "content": content}]})


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP", "GIF"])
def test_inline_images_reach_a_vision_model_as_content_parts(client: TestClient, auth: dict[str, str],
                                                             vision: FakeEngine, image_format: str) -> None:
    url = image_url(image_format)
    response = ask(client, auth, url)
    assert response.status_code == 200, response.text
    assert vision.requests[-1].messages == [{"role": "user", "content": [
        {"type": "text", "text": "What colour?"}, {"type": "image_url", "image_url": {"url": url}}]}]


PARAM = "messages[0].content[1].image_url.url"


@pytest.mark.parametrize(("url", "code"), [
    ("https://evil.example.com/cat.png", "image_url_not_allowed"),
    ("http://169.254.169.254/latest/meta-data", "image_url_not_allowed"),
    ("file:///etc/passwd", "invalid_image_url"),
    ("data:text/plain;base64,aGVsbG8=", "invalid_image_url"),
    ("data:image/png;base64,not*base64!", "invalid_base64"),
    ("data:image/png;base64," + base64.b64encode(b"this is not an image").decode(), "invalid_image"),
    (image_url("BMP"), "unsupported_image_format"),
    (image_url("PNG", size=2000).replace("image/png", "image/png"), "image_too_large"),
])
def test_bad_images_are_400_naming_the_part(client: TestClient, auth: dict[str, str], vision: FakeEngine,
                                            url: str, code: str) -> None:
    response = ask(client, auth, url)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == PARAM
    assert response.json()["error"]["code"] == code
    assert vision.requests == []


def test_a_model_without_vision_refuses_images(client: TestClient, auth: dict[str, str]) -> None:
    response = ask(client, auth, image_url(), model="fake-chat")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_supported"


def test_images_are_read_after_admission_and_a_bad_one_is_metered_refused(client: TestClient, settings: Settings,
                                                                          vision: FakeEngine) -> None:
    """Decoding an image costs more than admitting the request: a key over its limits gets its 429 before
    any image of it is read; a bad image of an admitted request is a refusal the key is metered for."""
    key_id, auth = new_key(client, tier="unlimited", quotas={"requests_per_minute": 1})
    bad = "data:image/png;base64," + base64.b64encode(b"this is not an image").decode()
    assert ask(client, auth, bad).json()["error"]["code"] == "invalid_image"
    assert ledger_rows(settings, key_id, 1) == [{"outcome": "refused", "prompt_tokens": 0, "completion_tokens": 0}]
    assert ask(client, auth, bad).status_code == 429  # the limit is checked first: the image is not read
    assert vision.requests == []
