"""A run's results as Markdown, written into benchmarks/README.md between markers (reruns replace it)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks import paired
from benchmarks.cpu import OTHER

START = "<!-- benchmark-results:start -->"
END = "<!-- benchmark-results:end -->"

# The targets.
TARGET_TTFT_ADDED_MS = 5.0
TARGET_CHAT_THROUGHPUT = 0.95
TARGET_LIBRARY_THROUGHPUT = 0.9
TARGET_PEER_THROUGHPUT = 1.0
SYSTEMS = (("bare", "bare vLLM"), ("platform", "platform"))
PEERS = (("litellm", "LiteLLM proxy"), ("rayllm", "Ray Serve LLM"))  # the chat peers, in the tables' order
EMBEDDING_PEERS = (("vllm-pooling", "vLLM pooling server"),)


def chat_systems(chat: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The systems a run measured for chat, as (key, name): bare vLLM, the peers that ran, the platform."""
    return [(system, name) for system, name in (SYSTEMS[0], *PEERS, SYSTEMS[1]) if chat.get(system)]


def number(value: object, digits: int | None = None) -> str:
    """A table cell: NaN and None as a dash; 3 significant figures unless ``digits`` is given."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if not isinstance(value, int | float):
        return str(value)
    if digits is not None:
        return f"{value:.{digits}f}"
    magnitude = abs(value)
    return f"{value:.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"


def _stats(summary: Mapping[str, Any], metric: str, stats: Sequence[str]) -> str:
    return " / ".join(number(summary[metric][stat]) for stat in stats)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def entry(family: Mapping[str, Any]) -> str:
    if family.get("platform_entry") == "direct ingress":
        return "its ingress replica's own HTTP port (Serve's direct ingress), without Serve's proxy"
    return "Serve's proxy"


def chat_tables(chat: Mapping[str, Any], cores: int) -> list[str]:
    rows = []
    systems = chat_systems(chat)
    for level in zip(*(chat[system] for system, _ in systems), strict=True):
        for (_, name), summary in zip(systems, level, strict=True):
            rows.append([summary["load"], name, _stats(summary, "ttft_ms", ("p50", "p90", "p99")),
                         number(summary["tpot_ms"]["p50"]), _stats(summary, "itl_ms", ("p50", "p90", "p99")),
                         _stats(summary, "e2e_ms", ("p50", "p99")), number(summary["output_tokens_per_s"]),
                         number(summary["requests_per_s"], 2), str(summary["errors"])])
    absolute = table(["load", "system", "TTFT p50 / p90 / p99 ms", "TPOT p50 ms", "ITL p50 / p90 / p99 ms",
                      "e2e p50 / p99 ms", "output tok/s", "req/s", "errors"], rows)
    ratio_rows = [[label, f"{r['ttft_p50_added_ms']:+.1f} ms", number(r["ttft_p50"], 2), number(r["ttft_p99"], 2),
                   number(r["tpot_p50"], 2), number(r["itl_p50"], 2), number(r["itl_p99"], 2),
                   number(r["e2e_p50"], 2), number(r["output_tokens_per_s"], 2), number(r["requests_per_s"], 2)]
                  for label, r in chat["ratios"].items()]
    ratios = table(["load", "TTFT p50 added", "TTFT p50", "TTFT p99", "TPOT p50", "ITL p50", "ITL p99", "e2e p50",
                    "output tok/s", "req/s"], ratio_rows)
    lines = [*absolute, "", "Platform / bare vLLM (latency ratios: lower is better; throughput: higher):", "", *ratios]
    return lines + peer_table(chat) + short_table(chat) + paired_table(chat) + cpu_table(chat, cores)


def peer_table(chat: Mapping[str, Any]) -> list[str]:
    """Output tokens/s of every system per level, and the platform's ratio to each (higher is better)."""
    peers = [(peer, name) for peer, name in PEERS if chat.get("peer_ratios", {}).get(peer)]
    if not peers:
        return []
    systems = chat_systems(chat)
    rows = []
    for index, (label, ratio) in enumerate(chat["ratios"].items()):
        speeds = [number(chat[system][index]["output_tokens_per_s"]) for system, _ in systems]
        against = [f"{number(chat['peer_ratios'][peer][label]['output_tokens_per_s'], 2)} / "
                   f"{chat['peer_ratios'][peer][label]['ttft_p50_added_ms']:+.1f} ms" for peer, _ in peers]
        rows.append([label, *speeds, number(ratio["output_tokens_per_s"], 2), *against])
    header = ["load", *[f"{name} tok/s" for _, name in systems], "platform / bare vLLM",
              *[f"platform / {name} (tok/s ratio / TTFT p50 added)" for _, name in peers]]
    return ["", "Against the peers (same engine, same settings, same load): output tokens/s of each system, and the "
            "platform's output tokens/s ratio to each and the milliseconds it adds to TTFT p50 (negative: faster).",
            "", *table(header, rows)]


def short_table(chat: Mapping[str, Any]) -> list[str]:
    """The request path's own cost: one-token answers to a one-line prompt, one request at a time."""
    short = chat.get("short_requests", {})
    if not all(short.get(system) for system, _ in SYSTEMS):
        return []
    rows = [[name, str(short[system]["requests"]), _stats(short[system], "e2e_ms", ("p50", "p90", "p99")),
             str(short[system]["errors"])] for system, name in chat_systems(chat) if short.get(system)]
    added = short["platform"]["e2e_ms"]["p50"] - short["bare"]["e2e_ms"]["p50"]
    return ["", f"The request path alone (one-line prompt, 1 output token, one request at a time): the platform "
            f"adds {added:+.1f} ms at p50.", "",
            *table(["system", "requests", "e2e p50 / p90 / p99 ms", "errors"], rows)]


def paired_table(chat: Mapping[str, Any]) -> list[str]:
    """TTFT at c=1 with both systems up, the same prompt to each in turn (benchmarks/paired.py)."""
    found = chat.get("paired")
    if not found:
        return []
    rows = [[f"{paired.PROMPTS[prompt]} (one output token)", str(summary["pairs"]),
             number(summary["bare_ttft_ms"]["p50"]), number(summary["platform_ttft_ms"]["p50"]),
             f"{summary['added_ms']['p50']:+.1f} ms ({summary['added_ms']['p25']:+.1f} to "
             f"{summary['added_ms']['p75']:+.1f})", str(summary["errors"])]
            for prompt, summary in found.items()]
    return ["", "TTFT at c=1, paired: bare vLLM started beside the platform, the same prompt sent to each in turn "
            "(order alternating), one request at a time; added = median of the per-pair differences "
            "(interquartile range in brackets). It leaves out what the platform's idle processes take from the "
            "engine, which the c=1 level above includes.", "",
            *table(["prompt", "pairs", "bare TTFT p50 ms", "platform TTFT p50 ms", "added p50", "errors"], rows)]


def cpu_table(chat: Mapping[str, Any], cores: int) -> list[str]:
    """Cores used per part of the system during each level (CPU seconds / wall seconds)."""
    def used(groups: Mapping[str, float]) -> str:
        return ", ".join(f"{group} {share:.2f}" for group, share in groups.items() if share >= 0.01)

    idle = chat.get("idle_cpu_cores", {})
    systems = chat_systems(chat)
    rows = [["idle", name, used(idle[system])] for system, name in systems if idle.get(system)]
    rows += [[summary["load"], name, used(summary["cpu_cores"])]
             for level in zip(*(chat[system] for system, _ in systems), strict=True)
             for (_, name), summary in zip(systems, level, strict=True) if summary.get("cpu_cores")]
    if not rows:
        return []
    return ["", f"Cores used during each level, by part (CPU seconds / wall seconds; the machine has {cores}):", "",
            *table(["load", "system", "cores used"], rows)]


def units_table(family: Mapping[str, Any], unit: str) -> list[str]:
    rows = []
    bares = family["bare"] if isinstance(family["bare"], list) else [family["bare"]] * len(family["platform"])
    for bare, ours in zip(bares, family["platform"], strict=True):
        other = " / ".join(number(s.get("cpu_cores", {}).get(OTHER), 2) for s in (bare, ours))
        rows.append([ours["load"], number(bare["units_per_s"]), number(ours["units_per_s"]),
                     number(family["ratios"][ours["load"]], 2), _stats(bare, "latency_ms", ("p50", "p99")),
                     _stats(ours, "latency_ms", ("p50", "p99")), str(ours["errors"]), other])
    return table(["load", f"bare {unit}", f"platform {unit}", "ratio", "bare latency p50 / p99 ms",
                  "platform latency p50 / p99 ms", "errors", "cores taken by other work (bare / platform)"], rows)


def embedding_peer_table(family: Mapping[str, Any]) -> list[str]:
    """Inputs/s of every system per level, the platform's ratio to the bare library and to each peer server."""
    peers = [(peer, name) for peer, name in EMBEDDING_PEERS if family.get("peer_ratios", {}).get(peer)]
    if not peers:
        return []
    rows = []
    for index, ours in enumerate(family["platform"]):
        label = ours["load"]
        speeds = [number(family[system][index]["units_per_s"]) for system in ("bare", *(p for p, _ in peers))]
        ratios = [number(family["ratios"][label], 2), *(number(family["peer_ratios"][p][label], 2) for p, _ in peers)]
        latencies = [_stats(family[p][index], "latency_ms", ("p50", "p99")) for p, _ in peers]
        errors = [str(family[p][index]["errors"]) for p, _ in peers]
        rows.append([label, *speeds, number(ours["units_per_s"]), *ratios, *latencies, *errors])
    names = [name for _, name in peers]
    header = ["load", "bare inputs/s", *(f"{name} inputs/s" for name in names), "platform inputs/s",
              "platform / bare", *(f"platform / {name}" for name in names),
              *(f"{name} latency p50 / p99 ms" for name in names), *(f"{name} errors" for name in names)]
    return ["", "Against the peer servers (the same requests, the same levels):", "", *table(header, rows)]


def targets(results: Mapping[str, Any]) -> list[dict[str, object]]:
    """The issue's targets, each with the value this run reached (levels that did not run are skipped)."""
    found: list[dict[str, object]] = []

    def check(name: str, value: float, goal: str, met: bool) -> None:
        found.append({"target": name, "goal": goal, "value": value, "met": bool(met) and not math.isnan(value)})

    pairs = results.get("chat", {}).get("paired", {})
    for prompt, label in paired.PROMPTS.items():
        if pairs.get(prompt):
            added = pairs[prompt]["added_ms"]["p50"]
            check(f"TTFT p50 added at c=1, paired, {label} (ms)", added, f"<= {TARGET_TTFT_ADDED_MS:g}",
                  added <= TARGET_TTFT_ADDED_MS)
    chat = results.get("chat", {}).get("ratios", {})
    if "c=1" in chat:
        added = chat["c=1"]["ttft_p50_added_ms"]
        check("TTFT p50 added at c=1, separate phases (ms)", added, f"<= {TARGET_TTFT_ADDED_MS:g}",
              added <= TARGET_TTFT_ADDED_MS)
    if "c=16" in chat:
        speed = chat["c=16"]["output_tokens_per_s"]
        check("streaming output tok/s ratio at c=16", speed, f">= {TARGET_CHAT_THROUGHPUT}",
              speed >= TARGET_CHAT_THROUGHPUT)
    for peer, name in PEERS:
        for label, ratios in results.get("chat", {}).get("peer_ratios", {}).get(peer, {}).items():
            speed = ratios["output_tokens_per_s"]
            check(f"streaming output tok/s ratio to {name} at {label}", speed, f">= {TARGET_PEER_THROUGHPUT:g}",
                  speed >= TARGET_PEER_THROUGHPUT)
    for family, unit in (("embeddings", "inputs/s"), ("transcription", "audio s/s")):
        for label, value in results.get(family, {}).get("ratios", {}).items():
            check(f"{family} {unit} ratio, {label}", value, f">= {TARGET_LIBRARY_THROUGHPUT}",
                  value >= TARGET_LIBRARY_THROUGHPUT)
    fastest = fastest_peer_ratios(results.get("embeddings", {}))
    for label, value in fastest.items():
        check(f"embeddings inputs/s ratio to the fastest peer server, {label}", value,
              f">= {TARGET_PEER_THROUGHPUT:g}", value >= TARGET_PEER_THROUGHPUT)
    return found


def fastest_peer_ratios(family: Mapping[str, Any]) -> dict[str, float]:
    """Per level, the platform's inputs/s over the fastest peer server's (the lowest of its ratios to each)."""
    by_peer = [ratios for peer, _ in EMBEDDING_PEERS if (ratios := family.get("peer_ratios", {}).get(peer))]
    found = {}
    for label in by_peer[0] if by_peer else {}:
        values = [ratios[label] for ratios in by_peer]
        found[label] = math.nan if any(math.isnan(value) for value in values) else min(values)
    return found


def markdown(results: Mapping[str, Any], plot_path: str | None) -> str:
    stamp = results["stamp"]
    machine, settings = stamp["machine"], stamp["settings"]
    versions = ", ".join(f"{name} {version}" for name, version in stamp["versions"].items())
    lines = [f"Run of {results['started_at']} ({results['duration_s'] / 60:.1f} min), `{stamp['command']}`.", "",
             f"- Machine: {machine['cpu'] or 'unknown CPU'}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
             f"GPU: {machine['gpu'] or 'none'}; {machine['os']}, Python {machine['python']}.",
             f"- Versions: {versions}; commit {stamp['commit'] or 'unknown'}.",
             "- Load average (1 min) at the start / after the bare engines / at the end: "
             + " / ".join(number(value) for value in results.get("load_average", {}).values())
             + " (above the benchmark's own load, other work on the machine skews the figures).",
             f"- Settings: {', '.join(f'{k}={v}' for k, v in settings.items())}; environment "
             f"{stamp['environment'] or '{}'}."]
    if "chat" in results:
        chat = results["chat"]
        against = ", ".join(["bare vLLM", *[name for system, name in PEERS if chat.get(system)]])
        lines += ["", f"### Streaming chat: `{chat['model']}`, platform against {against}", "",
                  f"The client reached the platform through {entry(chat)}.", "",
                  f"Mean prompt {number(chat['platform'][0]['mean_prompt_tokens'])} tokens, mean output "
                  f"{number(chat['platform'][0]['mean_output_tokens'])} tokens (first level). "
                  "TPOT: (e2e - TTFT) / (output tokens - 1); ITL: gaps between streamed chunks.", "",
                  *chat_tables(chat, machine["cores"])]
        if plot_path:
            lines += ["", f"![latency against load, every system]({plot_path})"]
    if "embeddings" in results:
        family = results["embeddings"]
        against = ", ".join(["bare sentence-transformers", *[name for peer, name in EMBEDDING_PEERS
                                                            if family.get(peer)]])
        engine = f" (its `{family['engine']}` engine)" if family.get("engine") else ""
        lines += ["", f"### Embeddings: `{family['model']}`, platform{engine} against {against} "
                  f"({family['inputs']} inputs)",
                  "", *units_table(family, "inputs/s"), *embedding_peer_table(family)]
    if "transcription" in results:
        family = results["transcription"]
        lines += ["", f"### Transcription: `{family['model']}`, platform against bare faster-whisper "
                  f"({number(family['audio_seconds'])} s of audio per level)", "",
                  *units_table(family, "audio s/s")]
    rows = [[str(t["target"]), str(t["goal"]), number(t["value"], 2), "met" if t["met"] else "**not met**"]
            for t in results.get("targets", [])]
    if rows:
        lines += ["", "### Targets", "", *table(["target", "goal", "this run", ""], rows)]
    return "\n".join(lines)


def replace_section(document: str, section: str) -> str:
    """``document`` with the text between the markers replaced by ``section`` (markers appended if absent)."""
    block = f"{START}\n{section.strip()}\n{END}"
    start, end = document.find(START), document.find(END)
    if start == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + block + "\n"
    return document[:start] + block + document[end + len(END):]
