"""vLLM's log probabilities as OpenAI's chat ``logprobs.content`` entries (the completions shape is made from
these by the ingress)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

FLOOR = -9999.0  # JSON has no -inf: OpenAI-compatible servers send this for a probability of 0


class Candidate(Protocol):
    logprob: float
    rank: int | None
    decoded_token: str | None


def _entry(token: str, logprob: float) -> dict[str, Any]:
    value = logprob if math.isfinite(logprob) else FLOOR
    return {"token": token, "logprob": max(value, FLOOR), "bytes": list(token.encode("utf-8", "replace"))}


def token_entries(token_ids: Sequence[int], per_token: Iterable[Mapping[int, Candidate]] | None,
                  top: int) -> tuple[dict[str, Any], ...]:
    """One entry per sampled token: its text, log probability and bytes, and the ``top`` most likely tokens."""
    if per_token is None:
        return ()
    entries = []
    for token_id, candidates in zip(token_ids, per_token, strict=False):
        chosen = candidates.get(token_id)
        if chosen is None:
            continue
        entry = _entry(chosen.decoded_token or "", chosen.logprob)
        ranked = sorted((c for c in candidates.values() if c.rank is not None and c.rank <= top),
                        key=lambda c: c.rank or 0)
        entry["top_logprobs"] = [_entry(c.decoded_token or "", c.logprob) for c in ranked[:top]]
        entries.append(entry)
    return tuple(entries)


def prompt_entries(token_ids: Sequence[int], per_token: Sequence[Mapping[int, Candidate] | None] | None, top: int,
                   decode: Callable[[list[int]], str]) -> tuple[dict[str, Any], ...]:
    """Entries for the prompt's own tokens (``echo``): the first has no log probability (nothing precedes it)."""
    entries: list[dict[str, Any]] = []
    for position, token_id in enumerate(token_ids):
        candidates = per_token[position] if per_token is not None and position < len(per_token) else None
        if candidates is None or token_id not in candidates:
            entries.append({"token": decode([token_id]), "logprob": None, "bytes": None, "top_logprobs": []})
        else:
            entries.extend(token_entries([token_id], [candidates], top))
    return tuple(entries)
