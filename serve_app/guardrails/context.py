"""Context that weakens a hit: an attack phrase quoted in a discussion, code, inline code.

People who build and secure LLM applications quote attacks ("is 'ignore previous instructions' still
effective?"), paste API examples with ``{"role": "system"}`` and ask what ``<|im_end|>`` means. A hit in
such a context keeps a fraction of its weight, so it counts only together with other evidence. A quoted
attack followed by an order to carry it out ("... now do it") is not damped.
"""

from __future__ import annotations

import re
from functools import cached_property

from serve_app.guardrails.rule import Damping

DAMPED = 0.3  # the share of its weight a damped hit keeps

_QUOTED = re.compile(r"\"[^\"\n]{3,400}\"|(?<!\w)'[^'\n]{3,400}'(?!\w)")
_BACKTICKS = re.compile(r"`[^`\n]{1,200}`")
_DISCUSSION = re.compile(
    r"\b(?:attacks?|injections?|jailbreaks?|exploits?|tweets?|articles?|examples?|phrases?|sentences?|students?"
    r"|papers?|researchers?|security|red\W+team|classifiers?|detect\w*|famous|known|meme|effective|funny"
    r"|i\W+(?:read|saw|heard)|does\W+(?:it|that|this)\W+(?:still\W+)?work|why\W+(?:is|does|do)"
    r"|attaques?|securite|exemples?|j'ai\W+(?:lu|vu|entendu)|marche|fonctionne"
    r"|ataques?|seguridad|ejemplos?|frases?|articulos?|lei\W+que|funciona|por\W+que"
    r"|attacchi|attacco|sicurezza|esempio|frase|articoli|ho\W+letto|funziona|perche"
    r"|angriffs?|angriffe|sicherheit|beispiel|satz|artikeln?|ich\W+habe\W+gelesen|funktioniert|warum)\b"
)
_EXECUTE = re.compile(
    r"\b(?:do\W+(?:it|that|this|what\W+it\W+says)|now\W+do|execute|carry\W+(?:it|that)\W+out|follow\W+(?:it|that|them)"
    r"|act\W+on\W+it|obey|comply|fais-le|execute-la|executez|hazlo|ejecuta\w*|fallo|eseguil[oa]|esegui"
    r"|mach\W+(?:es|das)|fuhre\W+\w+\W+aus|befolge)\b"
)
_CODE = re.compile(r"```|\bmessages\s*[=:]|\bclient\.|\bdef\s|\bimport\s|\{%|=>|\bconst\s|\bcurl\s|\bjson\."
                   r"|(?:^|\n)\s*[\w.]+\s*=\s*[\[{(]")


class Context:
    """What a folded text says about itself; each part computed once, when a damped rule first needs it."""

    def __init__(self, text: str) -> None:
        self._text = text

    def factor(self, damping: Damping, start: int, end: int) -> float:
        """The share of a rule's weight that a match at ``start:end`` keeps."""
        if damping is Damping.NONE:
            return 1.0
        if damping is Damping.QUOTED and self._discussion and _inside(self._quoted, start, end):
            return DAMPED
        if damping is Damping.CODE and (self._code or _inside(self._backticks, start, end)):
            return DAMPED
        if damping is Damping.BACKTICKS and _inside(self._backticks, start, end):
            return DAMPED
        return 1.0

    @cached_property
    def _quoted(self) -> list[tuple[int, int]]:
        return [m.span() for m in _QUOTED.finditer(self._text)]

    @cached_property
    def _backticks(self) -> list[tuple[int, int]]:
        return [m.span() for m in _BACKTICKS.finditer(self._text)]

    @cached_property
    def _discussion(self) -> bool:
        return bool(_DISCUSSION.search(self._text)) and not _EXECUTE.search(self._text)

    @cached_property
    def _code(self) -> bool:
        return bool(_CODE.search(self._text))


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b in spans)
