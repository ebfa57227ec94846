"""Remote image URLs of the operator's allow-list, fetched by the ingress itself, never by the engine.

What the engine would fetch is what its own URL parser and HTTP client make of the string, with redirects
followed: a URL checked here with one parser (``http://127.0.0.1:9999\\@img.example/x.png``) could reach
another host there, and an allowed host's open redirect could reach the metadata service or Ray's dashboard.
So the URL is parsed once (httpx's parser), its host checked against the allow-list, the name resolved here and
every address it resolves to checked (no loopback, private, link-local or other non-global address unless the
operator allows them), and the request sent to that checked address (the name kept for the ``Host`` header and
TLS), with no redirect followed, within a time and size bound. The engine gets the bytes, as an inline image.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from serve_app.errors import InvalidRequestError

Resolve = Callable[[str, int], Awaitable[list[str]]]
FETCH_TIMEOUT_SECONDS = 10.0


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class RemoteImages:
    allowed_hosts: frozenset[str]
    max_bytes: int
    allow_private: bool = False
    timeout: float = FETCH_TIMEOUT_SECONDS
    resolver: Resolve = field(default=resolve)

    def check_url(self, url: str, param: str) -> httpx.URL:
        """The URL as it will be fetched: http(s), no user info, a host of the allow-list; a 400 otherwise."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise _invalid(param) from None
        if parsed.scheme not in ("http", "https") or not parsed.host or parsed.userinfo or "\\" in url:
            raise _invalid(param)
        if parsed.host.lower() not in self.allowed_hosts:
            raise InvalidRequestError(
                "Remote image URLs are not fetched by this platform: send the image inline as a "
                "`data:image/...;base64,...` URL.", param=param, code="image_url_not_allowed")
        return parsed

    async def fetch(self, url: str, param: str) -> bytes:
        """The image's bytes; a 400 naming ``param`` for a URL, an address or an answer that is not acceptable."""
        parsed = self.check_url(url, param)
        try:
            async with asyncio.timeout(self.timeout):
                return await self._fetch(parsed, param)
        except TimeoutError:
            raise _unfetchable(param, f"no image within {self.timeout:g} s") from None
        except (httpx.HTTPError, OSError):
            raise _unfetchable(param, "the host could not be reached") from None

    async def _fetch(self, parsed: httpx.URL, param: str) -> bytes:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = await self.resolver(parsed.host, port)
        if not addresses:
            raise _unfetchable(param, "the host does not resolve")
        if not self.allow_private and not all(is_public(address) for address in addresses):
            raise InvalidRequestError(
                "The image URL's host resolves to an address inside a private network, which this platform does "
                "not fetch from.", param=param, code="image_url_not_allowed")
        target = parsed.copy_with(host=addresses[0])
        host_header = parsed.netloc.decode("ascii")
        async with (httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=self.timeout) as client,
                    client.stream("GET", target, headers={"host": host_header},
                                  extensions={"sni_hostname": parsed.host}) as response):
            if response.is_redirect:
                raise InvalidRequestError("The image URL answered with a redirect, which this platform does not "
                                          "follow: give the image's final URL.", param=param,
                                          code="image_url_not_allowed")
            if response.status_code != 200:
                raise _unfetchable(param, f"the host answered HTTP {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > self.max_bytes:
                    raise InvalidRequestError(f"The image is larger than the limit of {self.max_bytes} bytes.",
                                              param=param, code="image_too_large")
        return bytes(data)


def _invalid(param: str) -> InvalidRequestError:
    return InvalidRequestError("Image URLs must be `data:image/...;base64,...` URLs, or http(s) URLs of an allowed "
                               "host without user information.", param=param, code="invalid_image_url")


def _unfetchable(param: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"The image could not be fetched: {why}.", param=param, code="image_url_unreachable")
