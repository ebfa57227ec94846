"""Completions ``echo``: each choice's text starts with its prompt (with ``logprobs``, the prompt's tokens come
first in the log probabilities, the first without one, as OpenAI returns them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from deployments.logprobs import prompt_entries


class Echo:
    def __init__(self, top_logprobs: int | None, decode: Callable[[list[int]], str]) -> None:
        self._top = top_logprobs
        self._decode = decode
        self._done: set[int] = set()

    def prefix(self, index: int, output: Any, text: str,
               logprobs: tuple[dict[str, Any], ...]) -> tuple[str, tuple[dict[str, Any], ...]]:
        """The choice's first text and log probabilities with its prompt's in front; later ones unchanged."""
        if index in self._done:
            return text, logprobs
        self._done.add(index)
        token_ids = list(output.prompt_token_ids or [])
        prompt = output.prompt if output.prompt is not None else self._decode(token_ids)
        if self._top is None:
            return prompt + text, logprobs
        entries = prompt_entries(token_ids, cast(Any, output.prompt_logprobs), self._top, self._decode)
        return prompt + text, entries + logprobs
