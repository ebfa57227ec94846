"""Stopping what `make serve` started, as a user's Ctrl-C does, and only that."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import psutil

STOP_TIMEOUT_S = 90


def stop_process_group(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGINT to ``process``'s group (started with ``start_new_session``), then SIGKILL to what is left of it and of
    every process it had started (Ray's workers run in groups of their own); returns those that had to be killed."""
    started = [process.pid]
    with contextlib.suppress(psutil.Error):
        started += [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and alive(started):
        time.sleep(1)
    left = alive(started)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return left


def alive(pids: list[int]) -> list[int]:
    running = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
    return running
