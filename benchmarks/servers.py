"""The two systems under test: bare vLLM's OpenAI server, and the platform on Ray Serve.

Both take the model folder, engine arguments and environment of the same catalog entry. They are started
one after the other, never together (the machine's cores are what is measured).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from serve_app.catalog import Catalog, ModelEntry
from serve_app.ray_env import use_serve_env
from serve_app.settings import Settings

READY_TIMEOUT_S = 600
APP_NAME = "bench"
BENCH_TIER = "unlimited"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s} s")


def vllm_flags(engine_args: dict[str, Any]) -> list[str]:
    """A catalog entry's ``engine_args`` as ``vllm serve`` flags (``enforce_eager: true`` -> ``--enforce-eager``)."""
    flags: list[str] = []
    for name, value in engine_args.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + name.replace("_", "-"))
        elif isinstance(value, dict):
            flags += [flag, json.dumps(value)]
        else:
            flags += [flag, str(value)]
    return flags


@contextmanager
def bare_vllm(entry: ModelEntry, models_dir: Path, extra_flags: Sequence[str] = ()) -> Iterator[str]:
    """vLLM's own OpenAI server on a free port, as the platform's deployment configures the engine
    (``extra_flags``: the server's own options, e.g. its tool parser)."""
    port = free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(models_dir / entry.source),
               "--served-model-name", entry.id, "--max-model-len", str(entry.context_length),
               "--disable-log-stats", *vllm_flags(entry.engine_args), *extra_flags, "--host", "127.0.0.1",
               "--port", str(port)]
    process = subprocess.Popen(command, env={**os.environ, **entry.engine_env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminates a server this harness started, killing it after a minute."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Platform:
    """A local Ray cluster running Serve; :meth:`deploy` replaces the app with one for the given models."""

    def __init__(self, root: Path, models_dir: Path, data_dir: Path) -> None:
        self.admin_token = secrets.token_urlsafe(16)
        # The status prober's synthetic requests would land in the middle of the measured ones.
        self.settings = Settings(data_dir=data_dir, models_dir=models_dir, admin_token=self.admin_token,
                                 status_prober=False).resolved(root)
        self.base_url = ""  # Serve's proxy

    def deploy(self, catalog: Catalog) -> str:
        """Serves ``catalog`` (replacing what ran before) and returns a fresh API key for it."""
        from ray import serve

        from serve_app.app import build_app_from

        self.remove()
        serve.run(build_app_from(self.settings, catalog), name=APP_NAME, route_prefix="/", blocking=False)
        wait_ready(f"{self.base_url}/health")
        return self.create_key()

    def remove(self) -> None:
        """Deletes the benchmark's app, if it runs (another system is measured in its place)."""
        from ray import serve

        if APP_NAME in serve.status().applications:
            serve.delete(APP_NAME)

    def deploy_beside(self, name: str, settings: Settings, catalog: Catalog) -> str:
        """Serves ``catalog`` with ``settings`` as one more application, beside the others, under ``/{name}``;
        returns that prefix's base URL."""
        from ray import serve

        from serve_app.app import build_app_from

        serve.run(build_app_from(settings, catalog), name=name, route_prefix=f"/{name}", blocking=False)
        wait_ready(f"{self.base_url}/{name}/health")
        return f"{self.base_url}/{name}"

    def create_key(self) -> str:
        """A key on the unlimited tier where tiers exist (a 400 means they do not yet: then a plain key)."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        url = f"{self.base_url}/admin/v1/keys"
        response = httpx.post(url, json={"name": "bench", "tier": BENCH_TIER}, headers=headers, timeout=30)
        if response.status_code == 400:
            response = httpx.post(url, json={"name": "bench"}, headers=headers, timeout=30)
        response.raise_for_status()
        return str(response.json()["key"])


def replica_pids(app: str) -> dict[str, int]:
    """Serve replica processes of ``app`` by deployment name (``Ingress``, ``model-...``), from the process
    titles Ray gives its workers (``ray::ServeReplica:APP:DEPLOYMENT``); Ray's state API needs the dashboard."""
    import psutil

    prefix = f"ray::ServeReplica:{app}:"
    found = {}
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            title = " ".join(process.cmdline())
            if title.startswith(prefix):
                found[title[len(prefix):].split()[0].split(".")[0]] = process.pid
    return found


def direct_ingress_url(app: str, deployment: str = "Ingress") -> str | None:
    """The ingress replica's own HTTP server (Serve's direct ingress, on with ``RAY_SERVE_THROUGHPUT_OPTIMIZED``):
    the port it listens on in Serve's direct-ingress range. None without direct ingress."""
    import psutil
    from ray.serve._private import constants

    pid = replica_pids(app).get(deployment)
    if pid is None or not constants.RAY_SERVE_ENABLE_DIRECT_INGRESS:
        return None
    low, high = constants.RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT, constants.RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT
    ports = sorted(connection.laddr.port for connection in psutil.Process(pid).net_connections(kind="tcp")
                   if connection.status == psutil.CONN_LISTEN and low <= connection.laddr.port <= high)
    return f"http://127.0.0.1:{ports[0]}" if ports else None


@contextmanager
def platform(root: Path, models_dir: Path) -> Iterator[Platform]:
    """Ray and Serve up on a free port with a throw-away data directory; everything down afterwards."""
    use_serve_env()  # as `make serve` runs it
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    with tempfile.TemporaryDirectory(prefix="llmaas-bench-") as data_dir:
        running = Platform(root, models_dir, Path(data_dir))
        port = free_port()
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            running.base_url = f"http://127.0.0.1:{port}"
            yield running
        finally:
            serve.shutdown()
            ray.shutdown()
