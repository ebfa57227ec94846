"""What one metering actor sustains, and what that means for a cluster of ingress replicas.

    .venv/bin/python -m benchmarks.meter_scale                          # SQLite ledger, 1, 2 and 4 callers
    .venv/bin/python -m benchmarks.meter_scale --database postgresql    # a throw-away PostgreSQL server as ledger

Each caller is a Ray actor standing in for an ingress replica: it drives the ingress's own metering path
(``ActorMeter`` -> ``LeasedMeter`` -> ``UsageReporter``, with the platform's default lease length and report
interval, a record sent at once where the ingress sends it at once) with ``--concurrency`` requests in flight
that do nothing but be admitted and then reported: no HTTP, no engine. So the figures are the metering path's
ceiling: what the actor (one process, one event loop, its ledger) lets the whole cluster admit and bill per
second. Leases off: the actor decides every request; on: replicas admit from leases. Keys are drawn at random
from ``--keys`` keys with high limits (none is refused; limits are still checked on every admission).

Per run: requests admitted per second, usage records the actor took per second (those reported within the
window), the records still queued in the callers at its end (a growing queue: the actor is the bottleneck),
actor calls per request, and the cores the actor and the callers used. Results: ``results/meter-scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks import cpu
from benchmarks.meter_caller import Caller
from serve_app.database import connect
from serve_app.governance.ledger import Ledger
from serve_app.governance.quotas import Quotas
from serve_app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Quotas(requests_per_minute=10**9, tokens_per_minute=10**12, monthly_spend_cap_usd=10.0**9).limits()


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.meter_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 2, 4], help="ingress replicas simulated")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight per caller")
    parser.add_argument("--keys", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measured window")
    parser.add_argument("--leases", choices=["off", "on", "both"], default="both")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2],
                        help="metering actors (LLMAAS_METERING_SHARDS)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "meter-scale.json")
    return parser.parse_args(argv)


@contextmanager
def ledger(kind: str) -> Iterator[Settings]:
    """Settings whose ledger is a fresh SQLite file, or a fresh PostgreSQL server's database."""
    with tempfile.TemporaryDirectory(prefix="llmaas-meter-scale-") as folder, ExitStack() as stack:
        url = None
        if kind == "postgresql":
            from tests.support.postgres import running_postgres

            url = stack.enter_context(running_postgres()).url
        yield Settings(data_dir=Path(folder), database_url=url, status_prober=False).resolved(ROOT)


def summarize(runs: list[dict[str, Any]], seconds: float, callers: int, leases: bool,
              cores: dict[str, float], shards: int = 1) -> dict[str, Any]:
    """One window over all callers: rates, calls per request, backlog, cores used."""
    admitted = sum(run["admitted"] for run in runs)
    records = sum(run["records_reported"] for run in runs)
    calls = {name: sum(run["calls"].get(name, 0) for run in runs) for name in ("admit", "report", "release")}
    return {"shards": shards, "callers": callers, "leases": leases, "seconds": seconds,
            "admitted_per_s": admitted / seconds, "records_per_s": records / seconds,
            "refused": sum(run["refused"] for run in runs), "errors": sum(run["errors"] for run in runs),
            "backlog_at_end": sum(run["backlog"] for run in runs),
            "actor_calls_per_s": {name: count / seconds for name, count in calls.items()},
            "actor_calls_per_request": sum(calls.values()) / admitted if admitted else None,
            "admit_latency_ms_p50": _median([run["admit_ms_p50"] for run in runs]),
            "cores": {name: share for name, share in cores.items() if share >= 0.01}}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def measure(base: Settings, args: argparse.Namespace) -> list[dict[str, Any]]:
    import ray

    found: list[dict[str, Any]] = []
    admitted = 0
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.leases]
    plan = [(shards, leases, count) for shards in args.shards for leases in modes for count in args.callers]
    for shards, leases, count in plan:
        settings = base.model_copy(update={"metering_shards": shards})
        lease_seconds = settings.admission_lease_seconds if leases else 0.0
        actor: Any = ray.remote(Caller)
        callers = [actor.options(num_cpus=0).remote(settings, lease_seconds) for _ in range(count)]
        ray.get([caller.warm.remote(LIMITS) for caller in callers])
        with cpu.metered() as cores:
            runs = ray.get([caller.run.remote(LIMITS, args.keys, args.concurrency, args.seconds)
                            for caller in callers])
        ray.get([caller.drain.remote() for caller in callers])
        found.append(summarize(runs, args.seconds, count, leases, cores, shards))
        admitted += count + sum(run["admitted"] for run in runs)  # the warm-up requests too
        found[-1]["ledger_exact"] = Ledger(connect(settings)).count() == admitted
        print(json.dumps(found[-1]), flush=True)
        for caller in callers:
            ray.kill(caller)
    return found


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    with ledger(args.database) as settings:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            results = {"database": args.database, "concurrency": args.concurrency, "keys": args.keys,
                       "lease_seconds": settings.admission_lease_seconds,
                       "report_interval_s": settings.metering_interval_seconds, "cores": os.cpu_count(),
                       "load_average_start": os.getloadavg()[0], "command": " ".join(["python", *sys.argv]),
                       "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": measure(settings, args)}
        finally:
            ray.shutdown()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.results}")


if __name__ == "__main__":
    main()
