"""py-spy on the platform's replicas while load runs, and a plain-text summary of where their CPU time goes."""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

SAMPLES_PER_S = 100
TOP = 30


def py_spy() -> str:
    found = Path(sys.executable).with_name("py-spy")
    if found.exists():
        return str(found)
    path = shutil.which("py-spy")
    if path is None:
        raise RuntimeError("py-spy is not installed")
    return path


@contextmanager
def recording(pids: dict[str, int], folder: Path, stem: str) -> Iterator[list[Path]]:
    """Samples every process in ``pids`` until the block ends; yields the folded-stack files it will write.

    Only threads holding the GIL are sampled: Python's own work, not the native threads that wait (Ray's
    core worker, gRPC); the cores each process used are in the run's CPU table.
    """
    folder.mkdir(parents=True, exist_ok=True)
    outputs = [folder / f"{stem}-{name}.folded" for name in pids]
    processes = [subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--rate", str(SAMPLES_PER_S),
                                   "--format", "raw", "--gil", "--nonblocking", "--output", str(out)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for pid, out in zip(pids.values(), outputs, strict=True)]
    try:
        yield outputs
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        for process in processes:
            process.wait(timeout=60)


def parse_folded(lines: Sequence[str]) -> list[tuple[list[str], int]]:
    """``frame;frame;...;leaf count`` lines (py-spy's raw format) as (frames, samples)."""
    stacks = []
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summary(stacks: Sequence[tuple[list[str], int]], top: int = TOP) -> str:
    """The functions with the most samples on-CPU: by self time (the leaf) and inclusive (anywhere on the stack)."""
    total = sum(count for _, count in stacks) or 1
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples"]
    for title, counter in (("self", own), ("inclusive", inclusive)):
        lines += ["", f"top {top} by {title} samples:"]
        lines += [f"{count / total:6.1%}  {frame}" for frame, count in counter.most_common(top)]
    return "\n".join(lines)


def summarize_files(files: Sequence[Path]) -> list[Path]:
    """A ``.txt`` summary beside each folded-stack file that py-spy wrote."""
    written = []
    for folded in files:
        if folded.exists():
            text = summary(parse_folded(folded.read_text().splitlines()))
            written.append(folded.with_suffix(".txt"))
            written[-1].write_text(text + "\n")
    return written
