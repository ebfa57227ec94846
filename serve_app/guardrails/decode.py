"""Wrapped payloads: base64, hex, binary, percent and ``\\u`` escapes, ROT13, reversed text, Unicode tags.

:func:`payloads` finds candidate substrings in a cleaned text, decodes at most ``limit`` of them and keeps
what reads as text; the guard inspects each like a message of its own. Anything that does not decode to
readable UTF-8 (hashes, UUIDs, image data, keys) is dropped at no more cost than a failed decode.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator
from urllib.parse import unquote

MAX_CANDIDATE = 16_384
MAX_ATTEMPTS_PER_PAYLOAD = 8  # candidates tried (most fail to decode) per payload kept

# Each pattern starts with a literal or a small character class, which ``re`` skips to quickly.
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9_-]{16,}={0,2}")
_LONG_WORD = re.compile(r"\S{16,}")
_HEX = (re.compile(r"\\x[0-9a-fA-F]{2}(?:\\x[0-9a-fA-F]{2}){5,}"),
        re.compile(r"0x[0-9a-fA-F]{2}(?:[\s,]*0x[0-9a-fA-F]{2}){5,}"),
        re.compile(r"(?<![0-9a-fA-F])[2-7][0-9a-fA-F](?:[ :,-]?[0-9a-fA-F]{2}){7,}"))
_HEX_JUNK = re.compile(r"\\x|0x|[\s:,-]")
_BINARY = re.compile(r"[01]{8}(?:[\s,]?[01]{8}){5,}")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}(?:[\w.~-]{0,3}%[0-9a-fA-F]{2}){5,}")
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}(?:\\u[0-9a-fA-F]{4}){3,}")
_TAGS = re.compile("[\U000e0020-\U000e007e]{4,}")
_ROT13_HINTS = ("rot13", "rot-13", "rot 13", "caesar", "cesar")
_REVERSE_HINTS = ("backward", "revers", "envers", "al reves", "contrario", "ruckwarts", "umgekehrt", "invers")


def payloads(raw: str, cleaned: str, folded: str, limit: int) -> list[str]:
    """Decoded texts hidden in a message (``raw`` for Unicode tags, ``cleaned`` for the encodings)."""
    found: list[str] = []
    for attempt, text in enumerate(_candidates(raw, cleaned, folded)):
        if len(found) >= limit or attempt >= MAX_ATTEMPTS_PER_PAYLOAD * limit:
            break
        if _readable(text):
            found.append(text)
    return found


def _candidates(raw: str, cleaned: str, folded: str) -> Iterator[str]:
    if not raw.isascii():
        for match in _TAGS.finditer(raw):
            yield "".join(chr(ord(c) - 0xE0000) for c in match.group())
    for word in _LONG_WORD.finditer(cleaned):
        for match in _BASE64.finditer(word.group()):
            if (text := _base64(match.group()[:MAX_CANDIDATE])) is not None:
                yield text
    for pattern in _HEX:
        for match in pattern.finditer(cleaned):
            yield _bytes_text(_from_hex(_HEX_JUNK.sub("", match.group()[:MAX_CANDIDATE])))
    for match in _BINARY.finditer(cleaned):
        bits = re.sub(r"[\s,]", "", match.group()[:MAX_CANDIDATE])
        yield _bytes_text(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits) - 7, 8)))
    if "%" in cleaned:
        for match in _PERCENT.finditer(cleaned):
            yield _percent(match.group()[:MAX_CANDIDATE])
    if "\\u" in cleaned:
        for match in _UNICODE_ESCAPE.finditer(cleaned):
            yield "".join(chr(int(h, 16)) for h in re.findall(r"\\u([0-9a-fA-F]{4})", match.group()[:MAX_CANDIDATE]))
    if any(hint in folded for hint in _ROT13_HINTS):
        yield codecs.encode(cleaned[:MAX_CANDIDATE], "rot13")
    if any(hint in folded for hint in _REVERSE_HINTS):
        yield cleaned[:MAX_CANDIDATE][::-1]


def _base64(candidate: str) -> str | None:
    if candidate.isalpha() and (candidate.islower() or candidate.isupper()):
        return None  # a long word, not an encoding
    data = candidate.rstrip("=")
    data += "=" * (-len(data) % 4)
    altchars = b"-_" if ("-" in data or "_" in data) else None
    try:
        return _bytes_text(base64.b64decode(data, altchars=altchars, validate=True))
    except (binascii.Error, ValueError):
        return None


def _from_hex(digits: str) -> bytes:
    try:
        return bytes.fromhex(digits[: len(digits) // 2 * 2])
    except ValueError:
        return b""


def _bytes_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _percent(quoted: str) -> str:
    try:
        return unquote(quoted, errors="strict")
    except UnicodeDecodeError:
        return ""


def _readable(text: str) -> bool:
    """Enough letters and no binary: what a model would read as an instruction."""
    if len(text) < 8:
        return False
    letters = sum(c.isalpha() for c in text)
    printable = sum(c.isprintable() or c in "\n\t" for c in text)
    return printable >= 0.95 * len(text) and letters >= 0.5 * len(text)
