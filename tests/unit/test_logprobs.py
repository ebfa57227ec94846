"""Log probabilities in OpenAI's chat shape (replica) and completions shape (ingress)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deployments.logprobs import FLOOR, token_entries
from serve_app.completions.serving import completion_logprobs


@dataclass
class Candidate:
    logprob: float
    rank: int | None
    decoded_token: str | None


def test_entries_carry_the_sampled_token_and_its_top_alternatives() -> None:
    per_token = [{5: Candidate(-0.1, 1, "Hi"), 6: Candidate(-2.5, 2, "Hello"), 7: Candidate(-3.0, 3, "Hey")},
                 {9: Candidate(-4.0, 4, " é"), 1: Candidate(-0.2, 1, "!"), 2: Candidate(-math.inf, 2, "?")}]
    entries = token_entries([5, 9], per_token, 2)
    assert entries[0] == {"token": "Hi", "logprob": -0.1, "bytes": [72, 105],
                          "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                                           {"token": "Hello", "logprob": -2.5, "bytes": list(b"Hello")}]}
    # A sampled token outside the top k is still the entry's token; -inf becomes a number JSON can carry.
    assert entries[1]["token"] == " é" and entries[1]["bytes"] == list(" é".encode())
    assert [top["token"] for top in entries[1]["top_logprobs"]] == ["!", "?"]
    assert entries[1]["top_logprobs"][1]["logprob"] == FLOOR


def test_no_logprobs_from_the_engine_is_no_entries() -> None:
    assert token_entries([1, 2], None, 3) == ()


def test_completions_shape_counts_offsets_from_where_the_text_starts() -> None:
    entries = [{"token": "Par", "logprob": -0.5, "bytes": [], "top_logprobs": [{"token": "Par", "logprob": -0.5}]},
               {"token": "is", "logprob": -0.25, "bytes": [], "top_logprobs": []}]
    assert completion_logprobs(entries, 10) == {"tokens": ["Par", "is"], "token_logprobs": [-0.5, -0.25],
                                                "top_logprobs": [{"Par": -0.5}, {}], "text_offset": [10, 13]}
