"""A detection rule: weighted regular expressions over folded text, and the helpers that write them.

Rules are written against the folded form of a text (see :mod:`serve_app.guardrails.normalize`):
casefolded, accents stripped, look-alike letters mapped to Latin, curly quotes mapped to ``"`` and
``'``, runs of spaces collapsed (newlines kept). So a pattern says ``systeme``, never ``système``.

Rules are plain data until :func:`compile_rule` turns them into a :class:`Matcher`, which the guard does
when it is built (nothing is compiled at import time).

Speed: Python's ``re`` tries every branch of an alternation at every position, so a rule's patterns are
grouped under anchor words (``on("ignore forget | instructions rules", ...)``): a group runs only on a
text that has, for each ``|``-separated set, a word starting like one of its anchors (first five letters;
shorter anchors must match a whole word). Set lookups; most texts wake up no group at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

STEM = 5


class Damping(Enum):
    """Contexts that make a hit weaker (a match that is being talked about, not addressed to the model)."""

    NONE = "none"
    QUOTED = "quoted"  # the match is inside quotes in a message that discusses attacks
    CODE = "code"  # the message is code or an API example (``messages=[{"role": "system", ...}]``)
    BACKTICKS = "backticks"  # the match is inside `inline code`


@dataclass(frozen=True)
class Group:
    """Patterns that run only when the text has a word of each set in ``anchors`` (none: always)."""

    anchors: tuple[frozenset[str], ...]
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """A detection rule: its groups' matches are evidence of ``category``, worth ``weight``."""

    name: str
    category: str
    weight: float
    groups: tuple[Group, ...]
    damping: Damping = Damping.NONE
    template: bool = False  # also applies to the application's own system/developer messages
    compact: bool = False  # written for letters-only text (spaced-out letters squeezed together); only used there


@dataclass(frozen=True)
class Compiled:
    pattern: re.Pattern[str]
    anchors: tuple[frozenset[str], ...]


@dataclass(frozen=True)
class Matcher:
    """A compiled rule. ``leet`` holds the same groups for the leetspeak view (``l`` merged into ``i``)."""

    rule: Rule
    groups: tuple[Compiled, ...]
    leet: tuple[Compiled, ...]


def compile_rule(rule: Rule) -> Matcher:
    return Matcher(rule, tuple(_compile(g, leet=False) for g in rule.groups),
                   tuple(_compile(g, leet=True) for g in rule.groups))


class AnchorIndex:
    """Which groups a text's words wake up, found from the words rather than by asking every group."""

    def __init__(self, matchers: Iterable[Matcher]) -> None:
        self._index: dict[str, list[tuple[int, int]]] = {}
        self._needed: dict[int, int] = {}
        for matcher in matchers:
            for group in (*matcher.groups, *matcher.leet):
                self._needed[id(group)] = (1 << len(group.anchors)) - 1
                for bit, anchor in enumerate(group.anchors):
                    for stem in anchor:
                        self._index.setdefault(stem, []).append((id(group), 1 << bit))

    def woken(self, words: Iterable[str]) -> set[int]:
        """The ``id`` of every anchored group whose anchor sets all have one of these word stems."""
        found: dict[int, int] = {}
        for stem in words:
            for key, bit in self._index.get(stem, ()):
                found[key] = found.get(key, 0) | bit
        return {key for key, bits in found.items() if bits == self._needed[key]}


def on(anchors: str, *patterns: str) -> Group:
    """Patterns gated by space-separated anchor words. ``"a b | c d"``: a word of each side of ``|``."""
    return Group(tuple(stems(words.split()) for words in anchors.split("|")), patterns)


def always(*patterns: str) -> Group:
    """Patterns that run on every text (those that start with a literal, which ``re`` finds fast)."""
    return Group((), patterns)


def rule(name: str, category: str, weight: float, *groups: Group, damping: Damping = Damping.NONE,
         template: bool = False, compact: bool = False) -> Rule:
    return Rule(name, category, weight, groups, damping, template, compact)


def stems(words: Iterable[str]) -> frozenset[str]:
    return frozenset(word[:STEM] for word in words)


def gap(n: int) -> str:
    """Up to ``n`` filler words (each with the separator after it), as few as possible."""
    return rf"(?:[\w'-]+\W+){{0,{n}}}?"


def one_of(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


def _compile(group: Group, leet: bool) -> Compiled:
    source = "|".join(f"(?:{p})" for p in group.patterns)
    if leet:
        anchors = tuple(frozenset(word.replace("l", "i") for word in anchor) for anchor in group.anchors)
        return Compiled(re.compile(source.replace("l", "i")), anchors)
    return Compiled(re.compile(source), group.anchors)
