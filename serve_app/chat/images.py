"""Images in chat messages: checked in the ingress before any engine sees them.

A sovereign platform does not fetch from the internet on a user's behalf: images come inline as
``data:image/...;base64,...`` URLs. Remote ``http(s)`` URLs pass only for hosts on the operator's
allow-list, and the ingress fetches them itself once the request is admitted (``remote_images``), handing the
engine their bytes; every other scheme is refused. Images are read in memory, never written anywhere, and
must be a supported format within the size and pixel limits.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from serve_app.chat.protocol import ChatCompletionRequest, ImagePart
from serve_app.chat.remote_images import RemoteImages
from serve_app.errors import InvalidRequestError

SUPPORTED_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}


@dataclass(frozen=True)
class ImagePolicy:
    max_image_bytes: int
    allowed_hosts: frozenset[str] = frozenset()
    max_pixels: int = 40_000_000
    allow_private: bool = False  # remote images from loopback, private or link-local addresses (tests, labs)

    def remote(self) -> RemoteImages:
        return RemoteImages(self.allowed_hosts, self.max_image_bytes, self.allow_private)


def _image_parts(request: ChatCompletionRequest) -> Iterator[tuple[str, ImagePart]]:
    for m, message in enumerate(request.messages):
        if isinstance(message.content, list):
            for p, part in enumerate(message.content):
                if isinstance(part, ImagePart):
                    yield f"messages[{m}].content[{p}].image_url.url", part


def check_images(request: ChatCompletionRequest, policy: ImagePolicy) -> None:
    """The cheap checks, before admission: raises a 400 naming the first image part whose URL is not
    acceptable (an inline image's header and size, a remote image's URL). Reading the images comes after
    admission: :func:`load_images`."""
    for param, part in _image_parts(request):
        check_image_url(part.image_url.url, param, policy)


def check_image_url(url: str, param: str, policy: ImagePolicy) -> None:
    if url.startswith("data:"):
        _inline_payload(url, param, policy)
    else:
        policy.remote().check_url(url, param)


async def load_images(request: ChatCompletionRequest, policy: ImagePolicy) -> None:
    """Reads every image of an admitted request, off the event loop: inline ones decoded from base64 and
    checked, remote ones fetched, checked and put in place of their URL, inline (the engine fetches nothing)."""
    remote = policy.remote()
    for param, part in _image_parts(request):
        url = part.image_url.url
        if url.startswith("data:"):
            await asyncio.to_thread(_check_inline, url, param, policy)
            continue
        data = await remote.fetch(url, param)
        image_format = await asyncio.to_thread(_check_format, data, param, policy.max_pixels)
        part.image_url.url = f"data:image/{SUPPORTED_FORMATS[image_format]};base64," + base64.b64encode(data).decode()


def _inline_payload(url: str, param: str, policy: ImagePolicy) -> str:
    """The base64 payload of an inline image URL whose header and size are acceptable."""
    header, _, payload = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        raise InvalidRequestError("An inline image must be a `data:image/<format>;base64,<data>` URL.",
                                  param=param, code="invalid_image_url")
    if len(payload) * 3 // 4 > policy.max_image_bytes:
        raise InvalidRequestError(f"The image is larger than the limit of {policy.max_image_bytes} bytes.",
                                  param=param, code="image_too_large")
    return payload


def _check_inline(url: str, param: str, policy: ImagePolicy) -> None:
    payload = _inline_payload(url, param, policy)
    try:
        data = binascii.a2b_base64(payload, strict_mode=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise InvalidRequestError("The image's base64 data is not valid base64.", param=param,
                                  code="invalid_base64") from None
    _check_format(data, param, policy.max_pixels)


def _check_format(data: bytes, param: str, max_pixels: int) -> str:
    """The format and the size come from the image's header: nothing is decoded here, and an image whose
    pixels would not fit the bound (a decompression bomb: a small file of a huge picture) is refused before the
    engine decodes it."""
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning: the bound below is the platform's
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
        with opened as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidRequestError(
                    f"The image is {width}x{height} pixels, more than the limit of {max_pixels} pixels: send a "
                    "smaller image.", param=param, code="image_too_large")
            image.verify()
            image_format = image.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidRequestError("The image could not be decoded: send a PNG, JPEG, WEBP or GIF image.",
                                  param=param, code="invalid_image") from None
    if image_format not in SUPPORTED_FORMATS:
        raise InvalidRequestError(f"Unsupported image format {image_format or 'unknown'}: send a PNG, JPEG, "
                                  "WEBP or GIF image.", param=param, code="unsupported_image_format")
    return image_format
