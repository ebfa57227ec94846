"""What governance costs per request: API-key auth + admission (the metering actor) + usage metering.

On one Ray cluster, three copies of the platform run side by side, each its own Serve application with its own
tiny-llama replica: governance on (admission from leases, the default), on with the metering actor deciding
every request (``LLMAAS_ADMISSION_LEASE_SECONDS=0``) and off (``LLMAAS_GOVERNANCE=false``: no key check, no
admission, no metering). The same small chat request (one output token) goes to each in turn, in a shuffled
order every round, one at a time: drift in the machine's speed hits all three alike, and each round gives a
paired difference. Prints latency p50/p99 for each, what each adds over "off" (difference of the p50s, and the
median of the paired differences), and writes JSON under benchmarks/results/.

    .venv/bin/python -m benchmarks.governance --requests 400
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import httpx

from benchmarks.servers import platform
from benchmarks.stamp import stamp
from benchmarks.stats import spread
from serve_app.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parents[1]
MODEL = "tiny-llama"
MODES: dict[str, dict[str, object]] = {
    "off": {"governance": False},
    "on": {"governance": True},
    "per-request": {"governance": True, "admission_lease_seconds": 0.0},
}
WARMUP_ROUNDS = 10
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 1}


def measure(urls: dict[str, str], secret: str, requests: int, seed: int = 0) -> dict[str, list[float]]:
    """Seconds per request by mode, end to end, the modes interleaved in a shuffled order each round; the first
    rounds warm the paths up and are dropped."""
    draw = random.Random(seed)
    latencies: dict[str, list[float]] = {mode: [] for mode in urls}
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {secret}"}) as http:
        for index in range(requests + WARMUP_ROUNDS):
            order = list(urls)
            draw.shuffle(order)
            for mode in order:
                started = time.perf_counter()
                response = http.post(f"{urls[mode]}/v1/chat/completions", json=BODY)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if index >= WARMUP_ROUNDS:
                    latencies[mode].append(elapsed)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="requests per mode")
    parser.add_argument("--models-dir", type=Path, default=ROOT / ".models")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "governance.json")
    args = parser.parse_args()
    catalog = load_catalog(ROOT / "catalog.cpu.yaml")
    catalog = Catalog(models=[entry for entry in catalog.models if entry.id == MODEL])
    with platform(ROOT, args.models_dir.resolve()) as running:
        urls = {mode: running.deploy_beside(mode, running.settings.model_copy(update=update), catalog)
                for mode, update in MODES.items()}
        running.base_url = urls["on"]
        secret = running.create_key()
        samples = measure(urls, secret, args.requests)
    summary = {mode: {name: value * 1000 for name, value in spread(values).items()}
               for mode, values in samples.items()}
    added = {mode: {**{name: summary[mode][name] - summary["off"][name] for name in ("p50", "p99", "mean")},
                    "paired_median": statistics.median(a - b for a, b in zip(samples[mode], samples["off"],
                                                                            strict=True)) * 1000}
             for mode in MODES if mode != "off"}
    result = {**stamp(ROOT, {"model": MODEL, "max_tokens": 1, "requests_per_mode": args.requests,
                             "order": "interleaved, shuffled each round", "concurrency": 1},
                      "python -m benchmarks.governance"),
              "latency_ms": summary, "added_by_governance_ms": added}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'governance':>24} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9} {'paired':>9}")
    for mode in MODES:
        print(f"{mode:>24} " + " ".join(f"{summary[mode][n]:9.2f}" for n in ("p50", "p99", "mean")))
    for mode, extra in added.items():
        print(f"{'added by ' + mode:>24} " + " ".join(f"{extra[n]:9.2f}" for n in ("p50", "p99", "mean",
                                                                                 "paired_median")))


if __name__ == "__main__":
    main()
