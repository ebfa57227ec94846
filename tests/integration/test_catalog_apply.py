"""`catalog apply` as operators run it: a real Ray job submitted to a separate local cluster
(`ray start --head`), while a stream of requests keeps running against the app it updates."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.integration.conftest import ROOT, free_port, wait_until_healthy

pytestmark = pytest.mark.integration
APP = "llmaas-apply"
ADMIN = "apply-admin-token"


@dataclass
class Cluster:
    dashboard: str
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def submit(self, catalog: Path) -> subprocess.CompletedProcess[str]:
        return self.run_job(sys.executable, "-m", "serve_app.catalog", "apply", str(catalog), "--app", APP)

    def run_job(self, *entrypoint: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address", self.dashboard,
                   "--working-dir", str(ROOT), "--runtime-env-json", json.dumps({"env_vars": self.env}), "--",
                   *entrypoint]
        for _ in range(60):  # the job agent comes up some seconds after the dashboard
            done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                  env={**os.environ, **self.env}, check=False)
            if "No available agent to submit job" not in done.stderr:
                return done
            time.sleep(3)
        return done


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    temp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    ray_cli = str(Path(sys.executable).parent / "ray")
    # Ray 2.60's `ray start` serves its dashboard (and so job submission) with token authentication.
    http_port = free_port()
    env = {"RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
           "LLMAAS_ADMIN_TOKEN": ADMIN,
           "LLMAAS_DATA_DIR": str(tmp_path_factory.mktemp("apply-data")),
           "LLMAAS_MODELS_DIR": str(Path(os.environ.get("LLMAAS_MODELS_DIR", ROOT / ".models")).resolve())}
    subprocess.run([ray_cli, "get-auth-token", "--generate"], env={**os.environ, **env}, check=True,
                   capture_output=True)
    dashboard_port = free_port()
    # Every fixed default port moved, so this cluster can run beside the session's own.
    ports = [f"--{name}={free_port()}" for name in ("port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                     "metrics-export-port", "runtime-env-agent-port",
                                                     "ray-client-server-port")]
    command = [ray_cli, "start", "--head", "--block", *ports, "--dashboard-port", str(dashboard_port),
               "--include-dashboard", "true", "--temp-dir", str(temp), "--disable-usage-stats"]
    process = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{dashboard_port}/api/version")
        cluster = Cluster(f"http://127.0.0.1:{dashboard_port}", f"http://127.0.0.1:{http_port}", env, process)
        # Serve's HTTP port on this cluster (8000 by default, which a running `make serve` may hold).
        started = cluster.run_job(sys.executable, "-c", "from ray import serve; "
                                  f"serve.start(http_options={{'host': '127.0.0.1', 'port': {http_port}}})")
        assert started.returncode == 0, started.stderr[-2000:]
        yield cluster
    finally:
        _stop(process, temp)


def _stop(process: subprocess.Popen[bytes], temp: Path) -> None:
    """Stops the cluster this test started, and only it: `ray start`'s group, then what ran under its temp dir."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=120)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_mentioning(str(temp)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(3)
    shutil.rmtree(temp, ignore_errors=True)


def _pids_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


def _wait_for(url: str, timeout_s: float = 180) -> None:
    """Until ``url`` answers at all (the dashboard answers 401 without a token: it is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(1)
    raise TimeoutError(url)


def _catalogs(folder: Path) -> tuple[Path, Path]:
    tiny = next(m for m in yaml.safe_load((ROOT / "catalog.cpu.yaml").read_text())["models"] if m["id"] == "tiny-llama")
    tiny["resources"] = {"num_cpus": 0.25}
    before = {"models": [tiny]}
    today = dt.date.today()
    lifecycle = {"available_from": "2026-01-01", "deprecated_on": (today - dt.timedelta(days=1)).isoformat(),
                 "retires_on": (today + dt.timedelta(days=120)).isoformat(), "replacement": "tiny-llama-next"}
    deprecated = {**tiny, "autoscaling": {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 4},
                  "lifecycle": lifecycle}
    retired = {**tiny, "id": "tiny-llama-old", "lifecycle": {
        "available_from": "2025-01-01", "deprecated_on": (today - dt.timedelta(days=200)).isoformat(),
        "retires_on": (today - dt.timedelta(days=10)).isoformat(), "replacement": "tiny-llama-next"}}
    after = {"models": [deprecated, {**tiny, "id": "tiny-llama-next"}, retired]}
    paths = folder / "before.yaml", folder / "after.yaml"
    for path, document in zip(paths, (before, after), strict=True):
        path.write_text(yaml.safe_dump(document))
    return paths


@dataclass
class Traffic:
    """Streams chat completions back to back from two threads until stopped; counts what failed."""

    base_url: str
    key: str
    done: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        body = {"model": "tiny-llama", "stream": True, "max_tokens": 24,
                "messages": [{"role": "user", "content": "Keep talking."}]}
        with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {self.key}"}) as client:
            while not self.stop.is_set():
                try:
                    with client.stream("POST", f"{self.base_url}/v1/chat/completions", json=body) as response:
                        lines = [line for line in response.iter_lines() if line]
                    if response.status_code != 200 or lines[-1] != "data: [DONE]" or '"error"' in lines[-2]:
                        self.failures.append(f"{response.status_code}: {lines[-2:]}")
                    self.done += 1
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))


def test_apply_adds_rescales_and_deprecates_without_failing_in_flight_requests(cluster: Cluster,
                                                                               tmp_path: Path) -> None:
    before, after = _catalogs(tmp_path)
    first = cluster.submit(before)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    wait_until_healthy(cluster.base_url)
    key = httpx.post(f"{cluster.base_url}/admin/v1/keys", json={"name": "apply", "tier": "unlimited"},
                     headers={"Authorization": f"Bearer {ADMIN}"}).json()["key"]
    traffic = Traffic(cluster.base_url, key)
    threads = [threading.Thread(target=traffic.run) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        started_with = traffic.done
        second = cluster.submit(after)
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=180)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "+ tiny-llama-next (added)" in second.stdout
    assert "~ tiny-llama: autoscaling.max_replicas: 1 -> 2" in second.stdout
    print(f"\n{traffic.done} streamed requests, {traffic.done - started_with} during the apply, "
          f"{len(traffic.failures)} failed")
    assert traffic.failures == []
    assert traffic.done - started_with > 3
    headers = {"Authorization": f"Bearer {key}"}
    models = {m["id"]: m for m in httpx.get(f"{cluster.base_url}/v1/models", headers=headers).json()["data"]}
    assert models["tiny-llama"]["lifecycle"]["status"] == "deprecated"
    assert "tiny-llama-next" in models
    sdk = openai.OpenAI(api_key=key, base_url=f"{cluster.base_url}/v1", max_retries=0, timeout=120)
    raw = sdk.completions.with_raw_response.create(model="tiny-llama", prompt="x", max_tokens=2)
    assert raw.headers["Deprecation"].startswith("@") and raw.headers["Sunset"].endswith("GMT")
    assert '</v1/models/tiny-llama-next>; rel="successor-version"' in raw.headers["Link"]
    with pytest.raises(openai.APIStatusError) as gone:
        sdk.chat.completions.create(model="tiny-llama-old", messages=[{"role": "user", "content": "hi"}])
    assert gone.value.status_code == 410 and gone.value.code == "model_retired"
    assert "tiny-llama-next" in gone.value.message
