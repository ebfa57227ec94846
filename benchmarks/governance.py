"""What governance costs per request: API-key auth + admission (the metering actor) + usage metering.

In one run on one Ray cluster, the same small chat requests (tiny-llama, one output token, one at a time)
go through the platform with governance on (admission from leases, the default), on with the metering
actor deciding every request (``LLMAAS_ADMISSION_LEASE_SECONDS=0``) and off (``LLMAAS_GOVERNANCE=false``:
no key check, no admission, no metering), in alternating rounds so that drift in the machine's speed hits
all alike. Prints latency p50/p99 for each and what each adds over "off", and writes JSON under
benchmarks/results/.

    .venv/bin/python -m benchmarks.governance --requests 150 --rounds 2
"""

from __future__ import annotations

import argparse
import json
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
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 1}


def measure(base_url: str, secret: str, requests: int) -> list[float]:
    """Seconds per request, end to end, sequential; the first few warm the path up and are dropped."""
    latencies = []
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {secret}"}) as http:
        for index in range(requests + 5):
            started = time.perf_counter()
            response = http.post("/v1/chat/completions", json=BODY)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if index >= 5:
                latencies.append(elapsed)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=150, help="requests per round and mode")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models-dir", type=Path, default=ROOT / ".models")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "governance.json")
    args = parser.parse_args()
    catalog = load_catalog(ROOT / "catalog.cpu.yaml")
    catalog = Catalog(models=[entry for entry in catalog.models if entry.id == MODEL])
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    with platform(ROOT, args.models_dir.resolve()) as running:
        governed = running.settings
        for _ in range(args.rounds):
            for mode, update in MODES.items():
                running.settings = governed.model_copy(update=update)
                secret = running.deploy(catalog)
                samples[mode] += measure(running.base_url, secret, args.requests)
    summary = {mode: {name: value * 1000 for name, value in spread(values).items()}
               for mode, values in samples.items()}
    added = {mode: {name: summary[mode][name] - summary["off"][name] for name in ("p50", "p99", "mean")}
             for mode in MODES if mode != "off"}
    result = {**stamp(ROOT, {"model": MODEL, "max_tokens": 1, "requests_per_round": args.requests,
                             "rounds": args.rounds, "concurrency": 1}, "python -m benchmarks.governance"),
              "latency_ms": summary, "added_by_governance_ms": added}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'governance':>24} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}")
    for mode in MODES:
        print(f"{mode:>24} " + " ".join(f"{summary[mode][n]:9.2f}" for n in ("p50", "p99", "mean")))
    for mode, extra in added.items():
        print(f"{'added by ' + mode:>24} " + " ".join(f"{extra[n]:9.2f}" for n in ("p50", "p99", "mean")))


if __name__ == "__main__":
    main()
