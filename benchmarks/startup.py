"""Time from `make serve` to healthy, as a newcomer meets it: a fresh clone, a first run (setup included), a second.

    python -m benchmarks.startup [--clone-to DIR] [--runs 2]

The checkout is cloned (`git clone`, committed files only) to DIR, then `make serve` runs there `--runs` times,
each in its own process group with `LLMAAS_ADMIN_TOKEN` set and nothing else: the time until `/health` answers
200, until `make serve` prints where everything is, and until the README's first chat answers through the
`openai` SDK (with a key from `make key`); then Ctrl-C, and the next run starts once every process of the last
is gone. The first run includes what `make serve` sets up (virtualenv, locked packages from the package index or
pip's cache, local models). Results go to benchmarks/results/startup.json, stamped with the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.stamp import machine
from tests.support.processes import start_in_new_group, stop_process_group

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "startup.json"
PORT = 8000
TOKEN = "startup-benchmark"
LIMIT_S = 1800.0


def run_once(clone: Path, log: Path) -> dict[str, float]:
    env = {**os.environ, "LLMAAS_ADMIN_TOKEN": TOKEN}
    for name in [name for name in env if name.startswith(("LLMAAS_", "VIRTUAL_ENV")) and name != "LLMAAS_ADMIN_TOKEN"]:
        env.pop(name)
    started = time.monotonic()
    with log.open("wb") as output:
        process = start_in_new_group(["make", "serve"], cwd=clone, env=env, stdout=output, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
    try:
        healthy = _until(lambda: _healthy(), process, started)
        announced = _until(lambda: "OpenAI-compatible API" in log.read_text(errors="replace"), process, started)
        answered = _first_answer(clone, env) - started
        return {"healthy_s": round(healthy, 1), "announced_s": round(announced, 1),
                "first_answer_s": round(answered, 1)}
    finally:
        stop_process_group(process)


def _healthy() -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=5).status_code == 200
    return False


def _until(check: Callable[[], bool], process: subprocess.Popen[bytes], started: float) -> float:
    while not check():
        if process.poll() is not None:
            raise RuntimeError(f"`make serve` exited with {process.returncode}")
        if time.monotonic() - started > LIMIT_S:
            raise TimeoutError("`make serve` did not become healthy")
        time.sleep(0.5)
    return time.monotonic() - started


def _first_answer(clone: Path, env: dict[str, str]) -> float:
    made = subprocess.run(["make", "-s", "key", "NAME=startup"], cwd=clone, env=env, capture_output=True, text=True,
                          check=True)
    secret = re.findall(r"sk-[A-Za-z0-9_-]{20,}", made.stdout)[0]
    script = ("from openai import OpenAI\n"
              f"client = OpenAI(base_url='http://127.0.0.1:{PORT}/v1', api_key='{secret}')\n"
              "print(client.chat.completions.create(model='SmolLM2-135M-Instruct', max_tokens=8, messages=["
              "{'role': 'user', 'content': 'What is the capital of France?'}]).choices[0].message.content)\n")
    subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c", script], check=True, capture_output=True)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clone-to", type=Path, default=Path("/tmp/llmaas-startup"))
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    shutil.rmtree(args.clone_to, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(args.clone_to)], check=True)
    pip_cache = Path.home() / ".cache" / "pip"
    runs = []
    for number in range(1, args.runs + 1):
        figures = run_once(args.clone_to, args.clone_to / f"make-serve-{number}.log")
        runs.append({"run": number, **figures})
        print(f"run {number}: healthy after {figures['healthy_s']} s, announced after {figures['announced_s']} s, "
              f"first answer after {figures['first_answer_s']} s", flush=True)
    result = {"machine": machine(), "pip_cache_present": pip_cache.exists(), "runs": runs,
              "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=args.clone_to, capture_output=True,
                                       text=True, check=True).stdout.strip()}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
