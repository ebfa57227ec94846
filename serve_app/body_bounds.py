"""Bounds on the shape of a JSON request body, checked on the parsed JSON before any validation or other work.

OpenAI-compatible clients never come near them; a body built to cost the ingress (hundreds of thousands of
empty messages, of content parts, of token ids, in a body under the size limit) is refused for the price of its
parse. Each refusal is a 400 naming the array, worded as OpenAI words it (``array_above_max_length``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serve_app.errors import InvalidRequestError

MAX_TOOLS = 128  # OpenAI's bound on `tools`
MAX_INPUTS = 2048  # OpenAI's bound on the items of `input` (embeddings) and of a `prompt` list
MAX_DOCUMENTS = 1000  # Cohere's bound on rerank's `documents`


@dataclass(frozen=True)
class BodyBounds:
    max_messages: int
    max_content_parts: int
    max_token_ids: int

    def check(self, payload: dict[str, Any]) -> None:
        """Raises a 400 naming the first array of ``payload`` over its bound."""
        messages = payload.get("messages")
        if isinstance(messages, list):
            _at_most(messages, self.max_messages, "messages")
            for index, message in enumerate(messages):
                content = message.get("content") if isinstance(message, dict) else None
                if isinstance(content, list):
                    _at_most(content, self.max_content_parts, f"messages[{index}].content")
        if isinstance(tools := payload.get("tools"), list):
            _at_most(tools, MAX_TOOLS, "tools")
        if isinstance(documents := payload.get("documents"), list):
            _at_most(documents, MAX_DOCUMENTS, "documents")
        for param in ("prompt", "input"):
            if isinstance(items := payload.get(param), list):
                self._check_prompt(items, param)
                for index, item in enumerate(items):  # the Responses API's input items
                    content = item.get("content") if isinstance(item, dict) else None
                    if isinstance(content, list):
                        _at_most(content, self.max_content_parts, f"{param}[{index}].content")

    def _check_prompt(self, items: list[Any], param: str) -> None:
        """A list of strings, of token ids, or of token-id lists: at most :data:`MAX_INPUTS` items (a token-id list
        is one item), and at most ``max_token_ids`` token ids in all."""
        if items and not isinstance(items[0], list):
            if isinstance(items[0], int):
                _at_most(items, self.max_token_ids, param)
            else:
                _at_most(items, MAX_INPUTS, param)
            return
        _at_most(items, MAX_INPUTS, param)
        token_ids = sum(len(item) for item in items if isinstance(item, list))
        if token_ids > self.max_token_ids:
            raise InvalidRequestError(
                f"Invalid '{param}': too many token ids. Expected at most {self.max_token_ids} token ids in all, "
                f"but got {token_ids} instead.", param=param, code="array_above_max_length")


def _at_most(items: list[Any], maximum: int, param: str) -> None:
    if len(items) > maximum:
        raise InvalidRequestError(
            f"Invalid '{param}': array too long. Expected an array with maximum length {maximum}, but got an array "
            f"with length {len(items)} instead.", param=param, code="array_above_max_length")
