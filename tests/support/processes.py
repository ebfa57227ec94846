"""Stopping what `make serve` started, as a user's Ctrl-C does, and only that."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

import psutil

STOP_TIMEOUT_S = 90


def start_in_new_group(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """Starts ``command`` in a process group of its own, as a terminal would: with Ctrl-C's SIGINT delivered.

    A shell ignores SIGINT for what it starts in the background (``pytest &``, ``nohup``, a CI runner's
    subshell), and children inherit that: `make serve` would then never see the test's Ctrl-C. A signal with a
    Python handler is reset to its default in a child at exec, so Python's own handler is put back here first."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return subprocess.Popen(command, start_new_session=True, **options)


def stop_process_group(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGINT to ``process``'s group (started with ``start_new_session``), then SIGKILL to what is left of it and of
    every process it had started (Ray's workers run in groups of their own); returns those that had to be killed."""
    started = process_tree(process)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and alive(started):
        time.sleep(1)
    left = alive(started)
    kill(process, left)
    return left


def process_tree(process: subprocess.Popen[bytes]) -> list[int]:
    """The pids of ``process`` and of every process it has started, however deep."""
    pids = [process.pid]
    with contextlib.suppress(psutil.Error):
        pids += [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    return pids


def kill(process: subprocess.Popen[bytes], pids: list[int]) -> None:
    """SIGKILL to ``pids`` and to ``process``'s group (started with ``start_new_session``); reaps ``process``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def alive(pids: list[int]) -> list[int]:
    running = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
    return running
