"""Normalisation: the text the rules read, whatever disguise it came in.

:func:`clean` undoes what changes the look but not the reading: NFKC (fullwidth letters, mathematical
alphanumerics, ligatures), then removes zero-width, bidi and control characters. :func:`fold` turns the
cleaned text into the form rules are written for: look-alike letters of other scripts mapped to Latin
(which also settles mixed-script words), casefolded, accents stripped, quotes unified, spaces collapsed.
:func:`leet` and :func:`squeeze` give further views when the text shows signs of leetspeak or of
spaced-out letters; each view is inspected like the original.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from serve_app.guardrails.confusables import CONFUSABLES

_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Curly, angle and low quotes and primes become plain double or single quotes.
_DOUBLE_QUOTES = "\u00ab\u00bb\u201c\u201d\u201e\u201f\u2033\u2039\u203a"
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2032"
_QUOTES = str.maketrans(_DOUBLE_QUOTES + _SINGLE_QUOTES, '"' * len(_DOUBLE_QUOTES) + "'" * len(_SINGLE_QUOTES))
_QUOTE_CHARS = re.compile(f"[{_DOUBLE_QUOTES}{_SINGLE_QUOTES}]")
# Only the characters the confusables table knows (and their capitals): str.translate costs per character.
_CONFUSABLE_CHARS = re.compile(
    "[" + "".join(sorted({chr(c) for c in CONFUSABLES} | {chr(c).upper() for c in CONFUSABLES})) + "]+"
)
# Only what needs changing: runs of blanks, odd blanks, blanks around line ends, blank lines.
_SPACES = re.compile(r"[^\S\n]{2,}|[^\S \n]")
_LINES = re.compile(r"[^\S\n]+\n\s*|\n\s+")
_MIXED_SCRIPT = re.compile("[a-zA-Z][\u0370-\u03ff\u0400-\u052f]|[\u0370-\u03ff\u0400-\u052f][a-zA-Z]")

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
                       "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "l": "i"})
# Words with leet digits or signs inside letters ("pr3v10u5", "4ll"); "utf8", "sha256" or "py3" are not.
# A text gets a leetspeak view when a tenth of its words, and at least three, look like that.
_LEET_WORD = re.compile(r"[a-z][0134579@$]+[a-z]|\b[0134579@$]+[a-z]{2}")
_ANY_WORD = re.compile(r"\w+")
_LEET_MIN_WORDS = 3
_LEET_SAMPLE = 4096
_LEET_TOKEN = re.compile(r"[\w@$]+(?:['!|+][\w@$]+)*")
# Letters spaced out by single separators ("i g n o r e", "i.g.n.o.r.e"); two spaces separate words. A text
# gets a squeezed view when it has a run of four such letters; then every run of two or more is joined.
_SPACED_HINT = re.compile(r"(?<!\w)(?:\w[ .*_\-·/]){3,}\w(?!\w)")
_SPACED = re.compile(r"(?<!\w)(?:\w[ .*_\-·/])+\w(?!\w)")
_SEPARATORS = re.compile(r"[ .*_\-·/]")


@dataclass(frozen=True)
class Folded:
    text: str
    disguised: bool  # invisible characters or mixed-script words were removed or mapped


def bound(text: str, max_chars: int) -> str:
    """At most ``max_chars``: the head (two thirds) and the tail (one third) of a longer text."""
    if len(text) <= max_chars:
        return text
    head = max_chars * 2 // 3
    return text[:head] + "\n" + text[len(text) - (max_chars - head):]


def clean(text: str) -> str:
    """NFKC, then without invisible and control characters. Case is kept (decoders need it)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _INVISIBLE.sub("", text)


def fold(raw: str) -> Folded:
    """The folded form of a raw text (cleaned first)."""
    cleaned = clean(raw)
    disguised = len(cleaned) != len(raw) and not raw.isascii()
    text = _prefold(cleaned)
    if not cleaned.isascii() and _CONFUSABLE_CHARS.search(cleaned) and _MIXED_SCRIPT.search(cleaned):
        disguised = True
    return Folded(text=_collapse(text), disguised=disguised)


def fold_clean(cleaned: str) -> str:
    """The folded form of an already cleaned text (decoded payloads)."""
    return _collapse(_prefold(cleaned))


def leet(folded: str) -> str | None:
    """The leetspeak reading (``1gn0r3`` -> ``ignore``; ``l`` and ``1`` both read ``i``), if it differs."""
    leet_words = len(_LEET_WORD.findall(folded, 0, _LEET_SAMPLE))
    if leet_words < _LEET_MIN_WORDS or leet_words * 10 < len(_ANY_WORD.findall(folded, 0, _LEET_SAMPLE)):
        return None
    return _LEET_TOKEN.sub(_unleet, folded)


def squeeze(cleaned: str) -> str | None:
    """Spaced-out letters joined (``i g n o r e  a l l`` -> ``ignore all``), if there are any."""
    if not _SPACED_HINT.search(cleaned):
        return None
    return fold_clean(_SPACED.sub(lambda m: _SEPARATORS.sub("", m.group()), cleaned))


def _prefold(cleaned: str) -> str:
    if cleaned.isascii():
        return cleaned.casefold()
    text = _CONFUSABLE_CHARS.sub(_unconfuse, cleaned).casefold()
    text = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    return text.translate(_QUOTES) if _QUOTE_CHARS.search(text) else text


def _collapse(text: str) -> str:
    return _LINES.sub("\n", _SPACES.sub(" ", text)).strip()


def _unconfuse(match: re.Match[str]) -> str:
    return match.group().translate(CONFUSABLES).casefold().translate(CONFUSABLES)


def _unleet(match: re.Match[str]) -> str:
    token = match.group()
    return token.translate(_LEET) if any(c.isalpha() for c in token) else token
