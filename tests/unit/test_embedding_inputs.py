"""What both embeddings engines share: counting and checking inputs, ``dimensions``, shortening, cosine rerank."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from deployments.embedding_inputs import TokenCounter, check_dimensions, cosine_relevance, shortened
from serve_app.errors import InvalidRequestError


class WordTokenizer:
    """A tokenizer of whitespace words with [CLS] (0) and [SEP] (1), ids from 2; vocabulary of 50."""

    vocab_size = 50

    def __call__(self, text: str, pair: str | None = None, **options: Any) -> dict[str, list[int]]:
        assert options == {"add_special_tokens": True, "truncation": False}
        ids = [0, *(2 + len(word) for word in text.split()), 1]
        if pair is not None:
            ids += [*(2 + len(word) for word in pair.split()), 1]
        return {"input_ids": ids}

    def decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        return " ".join("x" * (token - 2) for token in ids if token > 1)


def test_inputs_are_counted_with_the_special_tokens_the_model_reads() -> None:
    counter = TokenCounter(WordTokenizer(), max_tokens=6)
    texts, ids = counter.input_ids(["a bb", [3, 4, 5]])
    assert texts == ["a bb", "x xx xxx"]
    assert ids == [[0, 3, 4, 1], [0, 3, 4, 5, 1]]
    assert counter.count(("a", "bb"), "documents[0]", "pair") == 5


def test_an_input_beyond_the_models_maximum_is_refused_naming_it() -> None:
    counter = TokenCounter(WordTokenizer(), max_tokens=4)
    with pytest.raises(InvalidRequestError) as refused:
        counter.input_ids(["a", "a b c"])
    assert refused.value.param == "input" and refused.value.code == "context_length_exceeded"
    assert "Input 1 is 5 tokens long" in str(refused.value)


def test_token_ids_outside_the_vocabulary_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        TokenCounter(WordTokenizer(), max_tokens=8).input_ids([[3, 50]])
    assert refused.value.param == "input" and "0 to 49" in str(refused.value)


def test_dimensions_are_checked_and_shortened_vectors_have_unit_length() -> None:
    check_dimensions(None, 4, truncatable=False)
    check_dimensions(4, 4, truncatable=False)
    check_dimensions(2, 4, truncatable=True)
    for dimensions, truncatable in ((2, False), (5, True)):
        with pytest.raises(InvalidRequestError) as refused:
            check_dimensions(dimensions, 4, truncatable)
        assert refused.value.param == "dimensions"
    vectors = np.array([[3.0, 4.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    cut = shortened(vectors, 2, 4)
    assert cut.shape == (2, 2) and np.allclose(cut[0], [0.6, 0.8]) and np.allclose(cut[1], [0.0, 0.0])
    assert shortened(vectors, None, 4) is vectors


def test_documents_are_ranked_by_the_cosine_of_their_vectors_to_the_querys() -> None:
    scores = cosine_relevance(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]]))
    assert scores == pytest.approx([1.0, 0.5, 0.0, 0.5])


def test_a_rerank_reads_the_query_and_each_document_apart_naming_the_one_too_long() -> None:
    counter = TokenCounter(WordTokenizer(), max_tokens=4)
    assert counter.query_and_document_ids("a", ["bb", "c d"]) == [[0, 3, 1], [0, 4, 1], [0, 3, 3, 1]]
    with pytest.raises(InvalidRequestError) as refused:
        counter.query_and_document_ids("a", ["bb", "c d e"])
    assert refused.value.param == "documents[1]" and "'documents[1]' is 5 tokens long" in str(refused.value)
