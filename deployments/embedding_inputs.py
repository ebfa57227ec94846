"""What both embeddings engines do the same way: count and check inputs with the model's own tokenizer,
check ``dimensions``, shorten vectors, and rank documents by cosine similarity (a bi-encoder's rerank).

Counting with the model's tokenizer keeps ``usage`` exact whatever engine encodes, and an input longer than
the model takes is refused (a 400 naming the parameter) rather than silently cut.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serve_app.errors import InvalidRequestError


class TokenCounter:
    """Token ids and counts of inputs as the model reads them (its special tokens included)."""

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens

    def ids(self, text: str | tuple[str, str], param: str, what: str) -> list[int]:
        """The ids of a text (or a query-document pair); a 400 naming ``param`` beyond the model's maximum."""
        encoded = (self._tokenizer(*text, add_special_tokens=True, truncation=False) if isinstance(text, tuple)
                   else self._tokenizer(text, add_special_tokens=True, truncation=False))
        ids: list[int] = encoded["input_ids"]
        if len(ids) > self.max_tokens:
            raise InvalidRequestError(
                f"{what} is {len(ids)} tokens long, more than this model's maximum of {self.max_tokens} tokens. "
                "Shorten or split it.", param=param, code="context_length_exceeded")
        return ids

    def count(self, text: str | tuple[str, str], param: str, what: str) -> int:
        return len(self.ids(text, param, what))

    def texts(self, inputs: list[str | list[int]]) -> list[str]:
        """The inputs as texts: token-id inputs are checked against the vocabulary and decoded (then counted as
        the model reads the text, as for any text)."""
        vocabulary = self._tokenizer.vocab_size
        texts: list[str] = []
        for index, item in enumerate(inputs):
            if isinstance(item, list):
                if any(token < 0 or token >= vocabulary for token in item):
                    raise InvalidRequestError(f"Input {index} has token ids outside this model's vocabulary "
                                              f"(0 to {vocabulary - 1}).", param="input")
                item = self._tokenizer.decode(item, skip_special_tokens=True)
            texts.append(item)
        return texts

    def input_ids(self, inputs: list[str | list[int]]) -> tuple[list[str], list[list[int]]]:
        """The inputs as texts, and each one's ids, checked against the model's maximum."""
        texts = self.texts(inputs)
        return texts, [self.ids(text, "input", f"Input {index}") for index, text in enumerate(texts)]

    def query_and_document_ids(self, query: str, documents: list[str]) -> list[list[int]]:
        """The ids of the query, then of each document, each read apart (a bi-encoder's rerank) and checked."""
        params = ["query", *(f"documents[{index}]" for index in range(len(documents)))]
        return [self.ids(text, param, f"'{param}'") for text, param in zip([query, *documents], params, strict=True)]


def check_dimensions(dimensions: int | None, native: int, truncatable: bool) -> None:
    if dimensions is None or dimensions == native:
        return
    if not truncatable or dimensions > native:
        allowed = f"1 to {native}" if truncatable else str(native)
        raise InvalidRequestError(f"This model's embeddings have {native} dimensions; `dimensions` may be {allowed}.",
                                  param="dimensions")


def shortened(vectors: Any, dimensions: int | None, native: int) -> Any:
    """Matryoshka-style shortening: keep the first dimensions and renormalise to unit length."""
    if dimensions is None or dimensions >= native:
        return vectors
    cut = vectors[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return cut / np.where(norms == 0, 1, norms)


def cosine_relevance(vectors: Any) -> list[float]:
    """Each later row's relevance to the first (the query), ``(1 + cos) / 2``: 0 opposite, 1 the same."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    cosines = unit[1:] @ unit[0]
    return [float((1 + cosine) / 2) for cosine in cosines]
