"""The platform on a two-node Ray cluster, with the PostgreSQL ledger, and one node stopped under load.

    .venv/bin/python -m benchmarks.two_node                  # head 2 CPUs, worker 2 CPUs, 30 s + 45 s of load
    .venv/bin/python -m benchmarks.two_node --before 20 --after 30

Both nodes run on this machine, each started with ``ray start`` (the head, then a worker joining it) and each
with a custom resource of its own (``node_head``, ``node_worker``) to tell them apart; the worker runs in a
process group (session) of its own. The ledger is a throw-away PostgreSQL server (``tests/support/postgres.py``).
The app serves ``tiny-llama`` only, with 2 ingress replicas and 2 model replicas: Serve's default scheduling
(SPREAD) puts one of each on each node. Serve's HTTP proxy runs on the head only; clients talk to it.

Two keys send non-streamed chat requests (``--max-tokens``, temperature 0) for ``--before`` seconds, then the
worker node is killed (SIGKILL to every process of it: raylet, its workers, the replicas on it), and they go on
for ``--after`` seconds: ``load`` (unlimited tier, ``--concurrency`` in flight) and ``limited`` (a
``tokens_per_day`` quota of ``--limit-tokens``, 2 in flight), whose budget runs out around the kill.

Reported: answers by phase (200, 429, failed: other status or no answer), when the platform answered again
after the kill, when the lost replicas ran again (and where), and the exactness checks: the ledger rows of each
key against the ``usage`` its clients were told (ids and token sums), no request billed twice, and the limited
key's tokens against its limit (the platform lets the request that crosses a limit finish: at most one request's
tokens over). Results: ``results/two-node.json``.

Two nodes on one host share one IP address, so Serve's direct ingress (each ingress replica's own port, chosen
per node) would give both replicas the same port: it is off here (``RAY_SERVE_ENABLE_DIRECT_INGRESS=0``), and
the proxy runs on the head only for the same reason. Neither limit applies to nodes on separate hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.servers import free_port, wait_ready
from serve_app.catalog import load_catalog
from serve_app.catalog.schema import Autoscaling
from serve_app.ray_env import use_serve_env
from serve_app.settings import Settings
from tests.support.processes import kill, process_tree

ROOT = Path(__file__).resolve().parents[1]
APP = "two-node"
MODEL = "tiny-llama"
NODE_ENV = {"RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
            "PYTHONPATH": str(ROOT)}


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.two_node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head-cpus", type=int, default=2, help="logical CPUs of the head node")
    parser.add_argument("--worker-cpus", type=int, default=2, help="logical CPUs of the worker node")
    parser.add_argument("--before", type=float, default=30.0, help="seconds of load before the worker is killed")
    parser.add_argument("--after", type=float, default=45.0, help="seconds of load after it")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight on the unlimited key")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--limit-tokens", type=int, default=3000, help="the limited key's tokens_per_day")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "two-node.json")
    return parser.parse_args(argv)


# --- the cluster ---------------------------------------------------------------------------------------------

def start_node(options: list[str], temp_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """``ray start --block`` in a session of its own (its whole node can be killed as one group)."""
    command = [str(ROOT / ".venv" / "bin" / "ray"), "start", "--block", "--temp-dir", str(temp_dir),
               "--object-store-memory", str(300 * 1024**2), "--dashboard-agent-listen-port", str(free_port()),
               *options]
    with log.open("ab") as output:
        return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def kill_node(node: subprocess.Popen[bytes]) -> list[int]:
    """SIGKILL to the node's every process at once (as a machine that dies): returns their pids."""
    pids = process_tree(node)
    kill(node, pids)
    return pids


def wait_for_nodes(count: int, timeout_s: float = 120) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while sum(node["Alive"] for node in ray.nodes()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} nodes did not join within {timeout_s} s")
        time.sleep(0.5)


def node_names() -> dict[str, str]:
    """Node id -> ``head`` or ``worker``, from each node's own resource."""
    import ray

    names = {}
    for node in ray.nodes():
        resources = node["Resources"] if node["Alive"] else {}
        names[node["NodeID"]] = "head" if "node_head" in resources else "worker" if resources else "dead"
    return names


def placement() -> dict[str, list[str]]:
    """Where the app's live replicas (by deployment) and the metering actor run, from the GCS's actor table
    (Ray's state API would need the dashboard)."""
    from ray._private import state

    names = node_names()
    where: dict[str, list[str]] = {}
    for actor in state.actors().values():
        name = actor["Name"]
        if actor["State"] != "ALIVE":
            continue
        if name.startswith(f"SERVE_REPLICA::{APP}#"):
            what = name.split("#")[1]
        elif name.startswith("llmaas-meter"):
            what = "metering actor"
        else:
            continue
        where.setdefault(what, []).append(names.get(actor["Address"]["NodeID"], "?"))
    return {what: sorted(nodes) for what, nodes in sorted(where.items())}


def deploy(settings: Settings, port: int) -> str:
    from ray import serve

    from serve_app.app import build_app_from
    from serve_app.telemetry import platform_env

    catalog = load_catalog(ROOT / "catalog.cpu.yaml")
    model = next(entry for entry in catalog.models if entry.id == MODEL)
    model = model.model_copy(update={"autoscaling": Autoscaling(min_replicas=2, max_replicas=2)})
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port},
                controller_options={"runtime_env": {"env_vars": platform_env(settings)}})
    serve.run(build_app_from(settings, catalog.model_copy(update={"models": [model]})), name=APP, route_prefix="/",
              blocking=False)
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(f"{base_url}/health")
    return base_url


# --- the load ------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    key: str
    started: float  # seconds since the load began
    ended: float
    status: int  # 0: no answer (connection lost, timeout)
    request_id: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0


async def sender(http: httpx.AsyncClient, key: str, max_tokens: int, t0: float, until: float,
                 answers: list[Answer]) -> None:
    sent = 0
    while time.monotonic() < until:
        sent += 1
        body = {"model": MODEL, "max_tokens": max_tokens, "temperature": 0,
                "messages": [{"role": "user", "content": f"Count from {sent} to {sent + 5}."}]}
        started = time.monotonic() - t0
        try:
            response = await http.post("/v1/chat/completions", json=body)
        except httpx.HTTPError:
            answers.append(Answer(key, started, time.monotonic() - t0, 0, None))
            await asyncio.sleep(0.05)
            continue
        usage = response.json().get("usage", {}) if response.status_code == 200 else {}
        answers.append(Answer(key, started, time.monotonic() - t0, response.status_code,
                              response.headers.get("x-request-id"), usage.get("prompt_tokens", 0),
                              usage.get("completion_tokens", 0)))
        if response.status_code != 200:
            await asyncio.sleep(0.05)


async def load(base_url: str, secrets_by_key: dict[str, str], args: argparse.Namespace,
               worker: subprocess.Popen[bytes]) -> tuple[list[Answer], dict[str, Any]]:
    """Both keys' senders; the worker killed at ``--before``; the replicas watched until they run again."""
    answers: list[Answer] = []
    t0 = time.monotonic()
    until = t0 + args.before + args.after
    clients = {key: httpx.AsyncClient(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {secret}"})
               for key, secret in secrets_by_key.items()}
    in_flight = {"load": args.concurrency, "limited": 2}
    tasks = [asyncio.create_task(sender(clients[key], key, args.max_tokens, t0, until, answers))
             for key, count in in_flight.items() for _ in range(count)]
    await asyncio.sleep(args.before)
    before = await asyncio.to_thread(placement)
    killed_at = time.monotonic() - t0
    killed = await asyncio.to_thread(kill_node, worker)
    print(f"{killed_at:.1f} s: worker node killed ({len(killed)} processes)", flush=True)
    restored_at = None
    while time.monotonic() < until:
        await asyncio.sleep(1)
        where = await asyncio.to_thread(placement)
        if restored_at is None and where.get("Ingress") == ["head"] * 2 and where.get(
                model_deployment()) == ["head"] * 2:
            restored_at = time.monotonic() - t0
            print(f"{restored_at:.1f} s: every replica runs again, on the head: {where}", flush=True)
    await asyncio.gather(*tasks)
    for client in clients.values():
        await client.aclose()
    after = await asyncio.to_thread(placement)
    return answers, {"killed_at_s": killed_at, "processes_killed": len(killed), "placement_before": before,
                     "replicas_restored_at_s": restored_at, "placement_after": after}


def model_deployment() -> str:
    return next(entry.deployment_name for entry in load_catalog(ROOT / "catalog.cpu.yaml").models
                if entry.id == MODEL)


# --- the checks ----------------------------------------------------------------------------------------------

def outcome(answer: Answer) -> str:
    return {200: "ok", 429: "refused"}.get(answer.status, "failed")


def phases(answers: list[Answer], killed_at: float) -> dict[str, dict[str, int]]:
    """Answers by key, phase (the request sent before or after the kill) and outcome."""
    counts: dict[str, dict[str, int]] = {}
    for answer in answers:
        phase = "before" if answer.started < killed_at else "after"
        row = counts.setdefault(f"{answer.key} {phase}", {"ok": 0, "refused": 0, "failed": 0})
        row[outcome(answer)] += 1
    return dict(sorted(counts.items(), key=lambda item: (item[0].split()[0], item[0].endswith("after"))))


def recovery(answers: list[Answer], killed_at: float) -> dict[str, Any]:
    """Failures around the kill, and the first success of a request sent after it."""
    failed = sorted(answer.ended for answer in answers if outcome(answer) == "failed")
    after = [answer.ended for answer in answers if answer.started >= killed_at and answer.status == 200]
    statuses = Counter(answer.status for answer in answers if outcome(answer) == "failed")
    return {"failed_statuses": {str(status): count for status, count in statuses.items()},
            "failures_from_s": failed[0] if failed else None, "failures_until_s": failed[-1] if failed else None,
            "first_ok_sent_after_kill_s": min(after) - killed_at if after else None}


def exactness(key: str, answers: list[Answer], rows: list[dict[str, Any]], limit: int | None) -> dict[str, Any]:
    """The key's ledger rows against what its clients were told."""
    told = {answer.request_id: answer for answer in answers if answer.key == key and answer.status == 200}
    billed = {row["request_id"]: row for row in rows}
    not_ok = {answer.request_id for answer in answers if answer.key == key and answer.status != 200}
    both = told.keys() & billed.keys()
    result = {
        "ok_answers": len(told), "ledger_rows": len(rows), "rows_billed_twice": len(rows) - len(billed),
        "ok_not_in_ledger": len(told.keys() - billed.keys()),
        "ledger_rows_without_an_ok_answer": len(billed.keys() - told.keys()),
        "of_which_refused_or_failed_with_an_id": len((billed.keys() - told.keys()) & not_ok),
        "their_outcomes": dict(Counter(billed[rid]["outcome"] for rid in billed.keys() - told.keys())),
        "tokens_told": sum(answer.prompt_tokens + answer.completion_tokens for answer in told.values()),
        "tokens_in_ledger": sum(row["prompt_tokens"] + row["completion_tokens"] for row in rows),
        "tokens_match_where_both": all(
            (told[rid].prompt_tokens, told[rid].completion_tokens) == (billed[rid]["prompt_tokens"],
                                                                       billed[rid]["completion_tokens"])
            for rid in both),
    }
    if limit is not None:
        largest = max((row["prompt_tokens"] + row["completion_tokens"] for row in rows), default=0)
        result |= {"limit": limit, "largest_request": largest,
                   "within_limit_plus_one_request": result["tokens_in_ledger"] <= limit + largest}
    return result


def ledger_rows(settings: Settings, key_ids: dict[str, str], settle_s: float = 10, timeout_s: float = 120,
                ) -> dict[str, list[dict[str, Any]]]:
    """Each key's rows, read once their count has not changed for ``settle_s`` (reports are sent in batches)."""
    from sqlalchemy import select

    from serve_app.database import connect
    from serve_app.governance.ledger import USAGE

    engine = connect(settings)
    deadline, last, stable_since = time.monotonic() + timeout_s, -1, time.monotonic()
    while True:
        with engine.connect() as db:
            rows = [dict(row._mapping) for row in db.execute(select(USAGE).where(
                USAGE.c.key_id.in_(list(key_ids.values()))))]
        if len(rows) != last:
            last, stable_since = len(rows), time.monotonic()
        if time.monotonic() - stable_since >= settle_s or time.monotonic() > deadline:
            engine.dispose()
            return {key: [row for row in rows if row["key_id"] == key_id] for key, key_id in key_ids.items()}
        time.sleep(1)


def create_key(base_url: str, admin_token: str, name: str, body: dict[str, Any]) -> tuple[str, str]:
    response = httpx.post(f"{base_url}/admin/v1/keys", json={"name": name, **body}, timeout=30,
                          headers={"Authorization": f"Bearer {admin_token}"})
    response.raise_for_status()
    return str(response.json()["id"]), str(response.json()["key"])


# --- the run -------------------------------------------------------------------------------------------------

def run(args: argparse.Namespace, folder: Path, database_url: str) -> dict[str, Any]:
    import ray
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")  # Ray reads RAY_AUTH_MODE once: again, now that it is set
    gcs_port, http_port = free_port(), free_port()
    head = start_node(["--head", "--port", str(gcs_port), "--num-cpus", str(args.head_cpus), "--resources",
                       json.dumps({"node_head": 1}), "--include-dashboard=false"], folder / "ray", folder / "head.log")
    worker = None
    try:
        address = f"{ray.util.get_node_ip_address()}:{gcs_port}"
        worker = start_node(["--address", address, "--num-cpus", str(args.worker_cpus), "--resources",
                             json.dumps({"node_worker": 1})], folder / "ray", folder / "worker.log")
        ray.init(address=address, namespace="serve", log_to_driver=False)
        wait_for_nodes(2)
        admin_token = secrets.token_urlsafe(16)
        settings = Settings(data_dir=folder / "data", models_dir=ROOT / ".models", admin_token=admin_token,
                            database_url=database_url, ingress_replicas=2, status_prober=False).resolved(ROOT)
        base_url = deploy(settings, http_port)
        keys = {"load": create_key(base_url, admin_token, "two-node-load", {"tier": "unlimited"}),
                "limited": create_key(base_url, admin_token, "two-node-limited",
                                      {"quotas": {"tokens_per_day": args.limit_tokens}})}
        print(f"deployed; replicas: {placement()}", flush=True)
        answers, events = asyncio.run(load(base_url, {key: secret for key, (_, secret) in keys.items()}, args,
                                           worker))
        rows = ledger_rows(settings, {key: key_id for key, (key_id, _) in keys.items()})
        return {**events, "phases": phases(answers, events["killed_at_s"]),
                "recovery": recovery(answers, events["killed_at_s"]),
                "exactness": {"load": exactness("load", answers, rows["load"], None),
                              "limited": exactness("limited", answers, rows["limited"], args.limit_tokens)},
                "answers": [asdict(answer) for answer in answers]}
    finally:
        from ray import serve

        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
        for node in (worker, head):
            if node is not None and node.poll() is None:
                kill_node(node)


def table(results: dict[str, Any]) -> str:
    lines = ["| key, requests sent | ok | refused (429) | failed |", "|---|---:|---:|---:|"]
    lines += [f"| {name} the kill | {row['ok']} | {row['refused']} | {row['failed']} |"
              for name, row in results["phases"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    os.environ.update(NODE_ENV)
    use_serve_env()  # as `make serve` runs it, in the nodes' environment too
    from tests.support.postgres import running_postgres

    folder = Path(tempfile.mkdtemp(prefix="llmaas-2n-"))
    try:
        with running_postgres() as postgres:
            found = run(args, folder, postgres.url)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results = {"command": " ".join(["python", *sys.argv]), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "cores": os.cpu_count(), "nodes": {"head": {"CPU": args.head_cpus, "node_head": 1},
                                                  "worker": {"CPU": args.worker_cpus, "node_worker": 1}},
               "settings": {key: value for key, value in vars(args).items() if key != "results"}, **found}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(json.dumps({key: results[key] for key in ("placement_before", "placement_after", "replicas_restored_at_s",
                                                      "recovery", "exactness")}, indent=2))
    print(f"results: {args.results}")


if __name__ == "__main__":
    main()
