"""The PNG: chat latency and throughput against load, bare vLLM, the peers and the platform on the same axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PANELS = (  # (title, metric, percentiles drawn: solid line, dashed line; none for a plain number)
    ("time to first token (ms)", "ttft_ms", ("p50", "p99")),
    ("inter-token latency (ms)", "itl_ms", ("p50", "p99")),
    ("end-to-end latency (ms)", "e2e_ms", ("p50", "p99")),
    ("output tokens/s", "output_tokens_per_s", (None,)),
)
SYSTEMS = (("bare", "bare vLLM", "tab:blue"), ("litellm", "LiteLLM proxy", "tab:green"),
           ("rayllm", "Ray Serve LLM", "tab:purple"), ("platform", "platform", "tab:orange"))


def _value(summary: Mapping[str, Any], metric: str, stat: str | None) -> float:
    return float(summary[metric][stat] if stat else summary[metric])


def _draw(axis: Any, summaries: Sequence[Mapping[str, Any]], metric: str, stats: Sequence[str | None],
          legend: str, colour: str) -> None:
    """Closed-loop levels joined by lines; open-loop ones (arrival rates) as separate points after them."""
    closed = [s for s in summaries if not str(s["load"]).endswith("req/s")]
    arrivals = [s for s in summaries if str(s["load"]).endswith("req/s")]
    for stat, marker, line in zip(stats, "os", ("-", "--"), strict=False):
        label: str | None = f"{legend} {stat}" if stat else legend
        for group, style in ((closed, line), (arrivals, "none")):
            if group:
                axis.plot([s["load"] for s in group], [_value(s, metric, stat) for s in group], marker=marker,
                          linestyle=style, color=colour, label=label)
                label = None  # one legend entry per line


def plot_chat(chat: Mapping[str, Any], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for axis, (name, metric, stats) in zip(axes.flat, PANELS, strict=True):
        for system, legend, colour in (found for found in SYSTEMS if chat.get(found[0])):
            _draw(axis, chat[system], metric, stats, legend, colour)
        axis.set_title(name)
        axis.set_xlabel("load (closed loop: concurrent streams; open loop: arrival rate)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        if stats[0]:
            axis.set_yscale("log")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
