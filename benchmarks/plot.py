"""The PNG: chat latency and throughput against load, bare vLLM and the platform on the same axes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

PANELS = (  # (title, metric, stats drawn: solid line first, dashed second)
    ("time to first token (ms)", "ttft_ms", ("p50", "p99")),
    ("inter-token latency (ms)", "itl_ms", ("p50", "p99")),
    ("end-to-end latency (ms)", "e2e_ms", ("p50", "p99")),
    ("output tokens/s", "output_tokens_per_s", ()),
)
SYSTEMS = (("bare", "bare vLLM", "tab:blue"), ("platform", "platform", "tab:orange"))


def plot_chat(chat: Mapping[str, Any], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [summary["load"] for summary in chat["bare"]]
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for axis, (name, metric, stats) in zip(axes.flat, PANELS, strict=True):
        for system, legend, colour in SYSTEMS:
            summaries = chat[system]
            if not stats:
                axis.plot(labels, [s[metric] for s in summaries], "o-", color=colour, label=legend)
            for stat, style in zip(stats, ("o-", "s--"), strict=False):
                axis.plot(labels, [s[metric][stat] for s in summaries], style, color=colour,
                          label=f"{legend} {stat}")
        axis.set_title(name)
        axis.set_xlabel("load (closed loop: concurrent streams; open loop: arrival rate)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        if stats:
            axis.set_yscale("log")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
