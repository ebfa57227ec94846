"""Where the cores went during a level: CPU time per part of the system, and of the rest of the machine.

On a 2-core machine this is what explains a throughput gap: the same tokens cost the bare server some
CPU seconds, and the platform those plus its ingress, Ray's processes, the metering actor. It also shows
how much other work on the machine took from the run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

CLIENT = "benchmark client"
OTHER = "other work on the machine"
RAY = "Ray"
GROUPS = (  # (substring of the command line, group), first match wins
    ("vllm.entrypoints", "vLLM server"),
    ("EngineCore", "vLLM engine core"),
    ("VLLM::Worker", "vLLM worker"),  # Ray Serve LLM's CPU mode runs the model in a worker process of its own
    (":Ingress", "ingress replica"),
    (":model-", "model replica"),
    (":OpenAiIngress", "Ray Serve LLM ingress"),
    (":LLMServer", "Ray Serve LLM server replica"),
    ("litellm", "LiteLLM proxy"),
    ("ServeReplica:", "other Serve replicas"),
    ("MeterCore", "metering actor"),
    ("benchmarks.bare", "bare library"),
    ("ServeController", "Serve controller"),
    ("raylet", "Ray raylet"),
    ("gcs_server", "Ray GCS"),
    ("dashboard", "Ray dashboard agent"),
    ("runtime_env", "Ray runtime-env agent"),
    ("log_monitor", "Ray log monitor"),
    ("monitor.py", "Ray autoscaler monitor"),
)

Snapshot = dict[int, tuple[str, float]]


def group(command: str, ours: bool) -> str:
    """The part of the system a process belongs to, from its command line (Ray sets process titles)."""
    if not ours:
        return OTHER
    return next((name for needle, name in GROUPS if needle in command), f"{RAY}: {program(command)}")


def program(command: str) -> str:
    """What a command line runs: its first word that is neither an interpreter nor an option, as a base name."""
    for word in command.split():
        name = word.rstrip("/").rsplit("/", 1)[-1]
        if not word.startswith("-") and not name.startswith("python"):
            return name
    return "?"


def snapshot() -> Snapshot:
    """CPU seconds so far of every process on the machine, by pid, with its group."""
    me = psutil.Process(os.getpid())
    ours = {child.pid for child in me.children(recursive=True)}
    found: Snapshot = {}
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        times, command = process.info["cpu_times"], " ".join(process.info["cmdline"] or [])
        if times is None:
            continue
        name = CLIENT if process.pid == me.pid else group(command, process.pid in ours)
        found[process.pid] = (name, times.user + times.system)
    return found


def cores(before: Snapshot, after: Snapshot, wall_s: float) -> dict[str, float]:
    """Cores used by each group between two snapshots (CPU seconds over wall seconds), busiest first."""
    if wall_s <= 0:
        return {}
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        spent = seconds - (before[pid][1] if pid in before else 0.0)
        used[name] = used.get(name, 0.0) + max(spent, 0.0)
    return {name: seconds / wall_s for name, seconds in sorted(used.items(), key=lambda item: -item[1])}


@contextmanager
def metered() -> Iterator[dict[str, float]]:
    """The cores each group used while the block ran, filled in when it ends."""
    used: dict[str, float] = {}
    before, start = snapshot(), time.perf_counter()
    yield used
    used.update(cores(before, snapshot(), time.perf_counter() - start))
