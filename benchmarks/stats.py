"""The arithmetic of a benchmark: percentiles, per-level summaries, platform / bare ratios. Pure functions."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between ranks, as ``numpy.percentile``.

    NaN for no values, so that an empty level shows as missing rather than as zero latency.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """``{"p50": ..., "p90": ..., "p99": ..., "mean": ...}`` of ``values``."""
    result = {f"p{q}": percentile(values, q) for q in PERCENTILES}
    result["mean"] = sum(values) / len(values) if values else math.nan
    return result


def ratio(platform: float, bare: float) -> float:
    """platform / bare; NaN where either is missing or bare is zero."""
    if math.isnan(platform) or math.isnan(bare) or bare == 0:
        return math.nan
    return platform / bare


@dataclass
class RequestRecord:
    """One request as the client saw it. Times are seconds from the level's start (``perf_counter``)."""

    start: float
    end: float
    token_times: list[float] = field(default_factory=list)  # arrival of each chunk that carried text
    prompt_tokens: int = 0
    output_tokens: int = 0  # the server's usage; the count of text chunks when it sent none
    units: float = 0.0  # inputs embedded or audio seconds transcribed, for the non-streaming families
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft(self) -> float:
        return self.token_times[0] - self.start if self.token_times else math.nan

    @property
    def e2e(self) -> float:
        return self.end - self.start

    @property
    def tpot(self) -> float:
        """Time per output token after the first (vLLM's definition); NaN for one-token answers."""
        if self.output_tokens < 2 or not self.token_times:
            return math.nan
        return (self.end - self.token_times[0]) / (self.output_tokens - 1)

    @property
    def itls(self) -> list[float]:
        """Gaps between successive text chunks (one chunk per engine step, usually one token)."""
        return [later - earlier for earlier, later in itertools.pairwise(self.token_times)]


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {name: value * 1000 for name, value in spread([v for v in values if not math.isnan(v)]).items()}


def summarize(system: str, load: str, records: Sequence[RequestRecord]) -> dict[str, object]:
    """One level of load as the results JSON and the tables show it (latencies in ms)."""
    done = [r for r in records if r.ok]
    wall = (max(r.end for r in records) - min(r.start for r in records)) if records else 0.0
    output_tokens = sum(r.output_tokens for r in done)
    return {
        "system": system,
        "load": load,
        "requests": len(records),
        "errors": len(records) - len(done),
        "error_kinds": sorted({r.error for r in records if r.error}),
        "duration_s": wall,
        "ttft_ms": _ms([r.ttft for r in done]),
        "tpot_ms": _ms([r.tpot for r in done]),
        "itl_ms": _ms([gap for r in done for gap in r.itls]),
        "e2e_ms": _ms([r.e2e for r in done]),
        "output_tokens_per_s": output_tokens / wall if wall else math.nan,
        "requests_per_s": len(done) / wall if wall else math.nan,
        "mean_prompt_tokens": sum(r.prompt_tokens for r in done) / len(done) if done else math.nan,
        "mean_output_tokens": output_tokens / len(done) if done else math.nan,
    }


def compare(bare: dict[str, object], platform: dict[str, object]) -> dict[str, float]:
    """The platform / bare ratios of two summaries of the same level, and the milliseconds added to TTFT."""

    def get(summary: dict[str, object], metric: str, stat: str | None = None) -> float:
        value = summary[metric]
        return float(value[stat] if isinstance(value, dict) and stat else value)  # type: ignore[arg-type]

    result = {
        "ttft_p50_added_ms": get(platform, "ttft_ms", "p50") - get(bare, "ttft_ms", "p50"),
        "output_tokens_per_s": ratio(get(platform, "output_tokens_per_s"), get(bare, "output_tokens_per_s")),
        "requests_per_s": ratio(get(platform, "requests_per_s"), get(bare, "requests_per_s")),
    }
    for metric in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
        for stat in ("p50", "p90", "p99"):
            result[f"{metric[:-3]}_{stat}"] = ratio(get(platform, metric, stat), get(bare, metric, stat))
    return result


def summarize_units(system: str, load: str, records: Sequence[RequestRecord]) -> dict[str, object]:
    """A level of a non-streaming family (embeddings, transcription): units per second and latency."""
    done = [r for r in records if r.ok]
    wall = (max(r.end for r in records) - min(r.start for r in records)) if records else 0.0
    return {
        "system": system,
        "load": load,
        "requests": len(records),
        "errors": len(records) - len(done),
        "error_kinds": sorted({r.error for r in records if r.error}),
        "duration_s": wall,
        "units_per_s": sum(r.units for r in done) / wall if wall else math.nan,
        "latency_ms": _ms([r.e2e for r in done]),
    }


def summarize_calls(system: str, load: str, seconds: Sequence[float], units: float) -> dict[str, object]:
    """The same for a bare library called in-process, one call after the other."""
    records, now = [], 0.0
    for duration in seconds:
        records.append(RequestRecord(start=now, end=now + duration))
        now += duration
    summary = summarize_units(system, load, records)
    summary["units_per_s"] = units / now if now else math.nan
    return summary
