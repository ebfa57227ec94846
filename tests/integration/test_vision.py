"""Images in chat end to end: a tiny random-weight Idefics3 on real vLLM, through the `openai` client."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

pytestmark = pytest.mark.integration
MODEL = "tiny-idefics3"



def _png(colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _ask(sdk: openai.OpenAI, url: str | None, model: str = MODEL) -> openai.types.chat.ChatCompletion:
    content: list[dict[str, object]] = [{"type": "text", "text": "Describe the picture."}]
    if url is not None:
        content.append({"type": "image_url", "image_url": {"url": url}})
    return sdk.chat.completions.create(model=model, max_tokens=5, temperature=0,
                                       messages=[{"role": "user", "content": content}])  # type: ignore[misc, list-item]


def test_an_image_is_seen_and_counted_in_usage(sdk: openai.OpenAI) -> None:
    with_image = _ask(sdk, _png((255, 0, 0)))
    without = _ask(sdk, None)
    assert with_image.choices[0].finish_reason in {"stop", "length"}
    assert with_image.usage is not None and without.usage is not None
    assert with_image.usage.prompt_tokens > without.usage.prompt_tokens


def test_two_images_count_more_than_one(sdk: openai.OpenAI) -> None:
    content = [{"type": "text", "text": "Compare."},
               {"type": "image_url", "image_url": {"url": _png((0, 0, 255))}},
               {"type": "image_url", "image_url": {"url": _png((0, 255, 0))}}]
    two = sdk.chat.completions.create(model=MODEL, max_tokens=3,
                                      messages=[{"role": "user", "content": content}])  # type: ignore[misc, list-item]
    one = _ask(sdk, _png((0, 0, 255)))
    assert two.usage is not None and one.usage is not None
    assert two.usage.prompt_tokens > one.usage.prompt_tokens


@pytest.mark.parametrize(("url", "code"), [
    ("data:image/png;base64,@@@@", "invalid_base64"),
    ("data:image/png;base64," + base64.b64encode(b"not an image at all").decode(), "invalid_image"),
    ("https://example.com/cat.png", "image_url_not_allowed"),
    ("file:///etc/passwd", "invalid_image_url"),
])
def test_bad_images_are_refused_and_the_model_still_answers(sdk: openai.OpenAI, url: str, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(sdk, url)
    assert refused.value.code == code
    assert refused.value.param == "messages[0].content[1].image_url.url"
    assert _ask(sdk, _png((10, 10, 10))).choices[0].message.content is not None


def test_a_text_model_refuses_images(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(sdk, _png((1, 2, 3)), model="SmolLM2-135M-Instruct")
    assert refused.value.code == "model_not_supported"
