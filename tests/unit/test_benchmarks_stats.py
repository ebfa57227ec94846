"""The benchmark's arithmetic: percentiles, per-request latencies, level summaries, platform / bare ratios."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from benchmarks.stats import (
    RequestRecord,
    compare,
    percentile,
    ratio,
    spread,
    summarize,
    summarize_calls,
    summarize_units,
)


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 99, 100])
def test_percentile_interpolates_as_numpy_does(q: float) -> None:
    values = [random.Random(q).uniform(0, 1000) for _ in range(37)]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_spread_has_the_three_percentiles_and_the_mean() -> None:
    assert spread([1.0, 2.0, 3.0, 4.0]) == {"p50": 2.5, "p90": pytest.approx(3.7), "p99": pytest.approx(3.97),
                                            "mean": 2.5}


def test_ratio_is_missing_where_a_side_is() -> None:
    assert ratio(3.0, 4.0) == 0.75
    assert math.isnan(ratio(3.0, 0.0))
    assert math.isnan(ratio(math.nan, 1.0))


def test_a_request_record_derives_ttft_tpot_and_inter_token_gaps() -> None:
    record = RequestRecord(start=1.0, end=2.0, token_times=[1.2, 1.5, 1.6, 2.0], output_tokens=5)
    assert record.ttft == pytest.approx(0.2)
    assert record.e2e == pytest.approx(1.0)
    assert record.tpot == pytest.approx(0.8 / 4)  # after the first token: 4 tokens in 0.8 s
    assert record.itls == pytest.approx([0.3, 0.1, 0.4])


def test_a_one_token_answer_has_no_tpot_and_a_silent_one_no_ttft() -> None:
    assert math.isnan(RequestRecord(start=0, end=1, token_times=[0.5], output_tokens=1).tpot)
    assert math.isnan(RequestRecord(start=0, end=1).ttft)


def test_summarize_counts_throughput_over_the_level_wall_time_and_leaves_errors_out() -> None:
    records = [
        RequestRecord(start=0.0, end=2.0, token_times=[0.1, 1.0, 2.0], prompt_tokens=10, output_tokens=20),
        RequestRecord(start=1.0, end=4.0, token_times=[1.3, 4.0], prompt_tokens=30, output_tokens=40),
        RequestRecord(start=1.5, end=1.6, error="HTTP 503"),
    ]
    summary = summarize("platform", "c=2", records)
    assert summary["requests"] == 3
    assert summary["errors"] == 1
    assert summary["error_kinds"] == ["HTTP 503"]
    assert summary["duration_s"] == 4.0
    assert summary["output_tokens_per_s"] == 60 / 4.0
    assert summary["requests_per_s"] == 2 / 4.0
    assert summary["mean_prompt_tokens"] == 20
    assert summary["ttft_ms"]["p50"] == pytest.approx(200.0)  # type: ignore[index]
    # gaps of 900 and 1000 ms, then 2700 ms: p99 is 98% of the way from the second to the third
    assert summary["itl_ms"]["p99"] == pytest.approx(1000 + 1700 * 0.98)  # type: ignore[index]


def test_compare_gives_ratios_and_the_milliseconds_added_to_ttft() -> None:
    def level(ttft: float, tokens_per_s: float) -> dict[str, object]:
        latencies = {"p50": ttft, "p90": ttft * 2, "p99": ttft * 3, "mean": ttft}
        return {"ttft_ms": latencies, "tpot_ms": latencies, "itl_ms": latencies, "e2e_ms": latencies,
                "output_tokens_per_s": tokens_per_s, "requests_per_s": tokens_per_s / 10}

    ratios = compare(level(80.0, 100.0), level(100.0, 90.0))
    assert ratios["ttft_p50_added_ms"] == pytest.approx(20.0)
    assert ratios["ttft_p50"] == pytest.approx(1.25)
    assert ratios["itl_p99"] == pytest.approx(1.25)
    assert ratios["output_tokens_per_s"] == pytest.approx(0.9)
    assert ratios["requests_per_s"] == pytest.approx(0.9)


def test_unit_summaries_for_the_platform_and_for_a_bare_library() -> None:
    records = [RequestRecord(start=0.0, end=1.0, units=32), RequestRecord(start=0.5, end=2.0, units=32),
               RequestRecord(start=0.5, end=0.6, units=32, error="ReadTimeout")]
    platform = summarize_units("platform", "32 in/req, c=2", records)
    assert platform["units_per_s"] == 64 / 2.0
    assert platform["errors"] == 1
    bare = summarize_calls("bare", "32 in/req, c=2", [0.5, 1.5], units=64)
    assert bare["units_per_s"] == 64 / 2.0
    assert bare["latency_ms"]["p50"] == pytest.approx(1000.0)  # type: ignore[index]
