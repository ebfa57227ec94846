"""Embeddings end to end: real sentence-transformers (all-MiniLM-L6-v2) behind the real Serve app."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import openai
import pytest

from tests.integration.conftest import Platform

pytestmark = pytest.mark.integration
MODEL = "all-MiniLM-L6-v2"



def _vectors(sdk: openai.OpenAI, texts: list[str], **options: object) -> np.ndarray:
    result = sdk.embeddings.create(model=MODEL, input=texts, **options)  # type: ignore[arg-type]
    return np.array([item.embedding for item in result.data])


def test_related_sentences_are_closer_than_unrelated_ones(sdk: openai.OpenAI) -> None:
    cat, kitten, stocks = _vectors(sdk, ["A cat sleeps on the sofa.", "A kitten naps on the couch.",
                                         "Stock markets fell sharply on Monday."])
    assert float(cat @ kitten) > float(cat @ stocks) + 0.3
    assert cat.shape == (384,)
    assert abs(float(np.linalg.norm(cat)) - 1) < 1e-3


def test_float_and_base64_give_the_same_vectors(sdk: openai.OpenAI, platform: Platform) -> None:
    texts = ["Bonjour le monde", "Hola mundo"]
    floats = _vectors(sdk, texts, encoding_format="float")
    packed = sdk.embeddings.create(model=MODEL, input=texts, encoding_format="base64").data
    decoded = np.array([np.frombuffer(base64.b64decode(str(item.embedding)), dtype="<f4") for item in packed])
    assert np.allclose(floats, decoded, atol=1e-6)
    by_default = _vectors(sdk, texts)  # the SDK asks for base64 by default and decodes it itself
    assert np.allclose(floats, by_default, atol=1e-6)


def test_usage_counts_the_models_own_tokens(sdk: openai.OpenAI, platform: Platform) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(platform.settings.models_dir / MODEL))
    texts = ["The quick brown fox.", "Jumps over the lazy dog, twice!"]
    result = sdk.embeddings.create(model=MODEL, input=texts)
    expected = sum(len(tokenizer(text)["input_ids"]) for text in texts)
    assert result.usage.prompt_tokens == expected == result.usage.total_tokens


def test_many_inputs_keep_their_order(sdk: openai.OpenAI) -> None:
    texts = [f"Sentence number {i} is about topic {i % 7}." for i in range(150)]
    batch = _vectors(sdk, texts)
    assert batch.shape == (150, 384)
    assert np.allclose(batch[137], _vectors(sdk, [texts[137]])[0], atol=1e-5)


def test_token_id_inputs_are_embedded(sdk: openai.OpenAI) -> None:
    result = sdk.embeddings.create(model=MODEL, input=[[7592, 2088], [4248, 2829]])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 384


def test_bad_inputs_are_refused_and_the_model_still_answers(sdk: openai.OpenAI, platform: Platform) -> None:
    with pytest.raises(openai.BadRequestError) as too_long:
        sdk.embeddings.create(model=MODEL, input="word " * 400)
    assert too_long.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as dims:
        sdk.embeddings.create(model=MODEL, input="hi", dimensions=128)
    assert dims.value.param == "dimensions"
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model=MODEL, input=[[999_999_999]])
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model="SmolLM2-135M-Instruct", input="hi")
    assert _vectors(sdk, ["still here"]).shape == (1, 384)
    assert httpx.get(f"{platform.base_url}/health", timeout=30).json()["models"][MODEL] == "up"
