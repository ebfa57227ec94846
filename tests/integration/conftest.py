"""One real platform per test session, started as users start it: `make serve` in a subprocess.

`make serve` runs `serve run serve_app.app:build_app` from the checkout, which starts a local Ray cluster with
the machine's own CPUs and serves the CPU catalog from the models dir that `make test` prepares. The session
differs from a user's run only by the LLMAAS_ settings in :func:`serve_env`, each with the reason. Tests talk to
it over HTTP with real clients; those that need Ray itself (actors, Serve's status, fault hooks) join its
cluster as a second driver. It is stopped by its process group at the end.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import psutil
import pytest
import ray
from ray import serve
from ray._raylet import Config
from sqlalchemy import Engine

from serve_app.app import build_app_from
from serve_app.catalog import load_catalog
from serve_app.database import connect
from serve_app.settings import Settings
from tests.support.oidc_issuer import AUDIENCE, TestIssuer, running_issuer
from tests.support.postgres import PostgresServer, free_port, running_postgres
from tests.support.processes import start_in_new_group, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_TOKEN = "integration-admin-token"
APP_NAME = "default"  # the name `serve run` gives the app
SERVE_COMMAND = ("make", "serve")  # the README's quick start
READY_TIMEOUT_S = 600
# `LLMAAS_TEST_DATABASE=postgresql` runs the session's platform on a PostgreSQL server of its own (`make
# test-postgres`); by default it keeps the ledger and keys in SQLite, as a user's first `make serve` does.
TEST_DATABASE = os.environ.get("LLMAAS_TEST_DATABASE", "sqlite")


@dataclass
class Platform:
    base_url: str
    settings: Settings
    issuer: TestIssuer
    env: dict[str, str]  # the LLMAAS_ settings `make serve` runs with
    log: Path  # what `make serve` printed
    postgres: PostgresServer | None = None  # the session's database server, when it runs on PostgreSQL

    @functools.cached_property
    def database(self) -> Engine:
        """The platform's database (keys, ledger), as the platform reaches it."""
        return connect(self.settings)

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def create_key(self, name: str, **fields: object) -> tuple[str, str]:
        """A new key (id, secret); ``fields`` are the admin API's (tier, quotas, owner)."""
        body = {"name": name, "tier": "unlimited", **fields}
        response = httpx.post(f"{self.base_url}/admin/v1/keys", json=body, headers=self.admin_headers)
        response.raise_for_status()
        return response.json()["id"], response.json()["key"]

    def deploy(self) -> None:
        """Deploys the app again as `serve run` does, from this session's driver, with the same settings."""
        serve.run(build_app_from(self.settings, load_catalog(self.settings.catalog)), name=APP_NAME,
                  route_prefix="/", blocking=False)
        wait_until_healthy(self.base_url)

    def undeploy(self) -> None:
        serve.delete(APP_NAME)


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-4000:] if log else ""
            raise RuntimeError(f"`make serve` exited with {process.returncode} before it was healthy:\n{tail}")
        try:
            if httpx.get(f"{base_url}/health", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the platform at {base_url} did not become healthy in {READY_TIMEOUT_S} s")


def serve_env(port: int, data_dir: Path, issuer: TestIssuer) -> dict[str, str]:
    """What the session sets besides the README's LLMAAS_ADMIN_TOKEN, and why."""
    return {
        "LLMAAS_ADMIN_TOKEN": ADMIN_TOKEN,
        # Beside a `make serve` the developer may be running on 8000, and a fresh database per session.
        "LLMAAS_HTTP_PORT": str(port),
        "LLMAAS_DATA_DIR": str(data_dir),
        # Two ingress replicas, so that every test also checks that limits hold across replicas; keys are not
        # cached, so that a revocation on one replica is seen at once on the other.
        "LLMAAS_INGRESS_REPLICAS": "2",
        "LLMAAS_KEY_CACHE_SECONDS": "0",
        # A real OIDC issuer, for the admin API's JWTs.
        "LLMAAS_OIDC_ISSUER": issuer.url,
        "LLMAAS_OIDC_AUDIENCE": AUDIENCE,
        # Status probes every 10 s, and hung engines replaced within about a minute
        # (tests/integration/test_status.py); two busy CPU cores are slow, not degraded. Probes keep the default
        # 30 s timeout: at 15 s, two SmolLM2 probes in a row timed out while the audio tests held both cores,
        # and the prober called a working model a major outage.
        "LLMAAS_STATUS_PROBE_SECONDS": "10",
        "LLMAAS_ENGINE_STALL_SECONDS": "30",
        "LLMAAS_ENGINE_HEALTH_CHECK_PERIOD_SECONDS": "2",
        "LLMAAS_STATUS_DEGRADED_TTFB_MS": "60000",
        "LLMAAS_STATUS_DEGRADED_TOKENS_PER_SECOND": "0",
        # Remote images from one host, for the SSRF attempts of test_hostile_traffic.py, and a body timeout a test
        # can wait for (the default is 120 s).
        "LLMAAS_IMAGE_URL_ALLOWED_HOSTS": "localhost",
        "LLMAAS_BODY_TIMEOUT_SECONDS": "15",
    }


def gcs_address(root: psutil.Process) -> str:
    """The address of the Ray cluster that ``root``'s `serve run` started (from its raylet's command line)."""
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            arguments = child.cmdline()
            if arguments and arguments[0].endswith("/raylet"):
                return next(a.split("=", 1)[1] for a in arguments if a.startswith("--gcs-address="))
    raise RuntimeError("no raylet under `make serve`")


@contextlib.contextmanager
def session_database() -> Iterator[PostgresServer | None]:
    """The session's PostgreSQL server, or None for SQLite under the data dir (the default)."""
    if TEST_DATABASE == "sqlite":
        yield None
        return
    assert TEST_DATABASE == "postgresql", f"LLMAAS_TEST_DATABASE: sqlite or postgresql, not {TEST_DATABASE!r}"
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def api_key(platform: Platform, request: pytest.FixtureRequest) -> str:
    """A fresh API key, one per test module."""
    return platform.create_key(request.module.__name__)[1]


@pytest.fixture(scope="module")
def sdk(platform: Platform, api_key: str) -> openai.OpenAI:
    """The official client, authenticated with the module's key."""
    return openai.OpenAI(api_key=api_key, base_url=f"{platform.base_url}/v1", max_retries=0, timeout=300)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "make-serve.log"
    with running_issuer() as issuer, session_database() as postgres:
        port = free_port()
        env = serve_env(port, tmp_path_factory.mktemp("data"), issuer)
        if postgres is not None:
            env["LLMAAS_DATABASE_URL"] = postgres.url
        with log.open("wb") as output:
            process = start_in_new_group(SERVE_COMMAND, cwd=ROOT, env={**os.environ, **env}, stdout=output,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_healthy(base_url, process, log)
            # A local cluster started by `ray.init()` requires Ray's token (~/.ray/auth_token, made at its start);
            # Ray reads the mode into its config once, so the config is read again after the mode is set.
            os.environ["RAY_AUTH_MODE"] = "token"
            Config.initialize("")
            ray.init(address=gcs_address(psutil.Process(process.pid)), namespace="serve", log_to_driver=False)
            settings = Settings.from_env(env).resolved(ROOT)
            yield Platform(base_url=base_url, settings=settings, issuer=issuer, env=env, log=log, postgres=postgres)
        finally:
            ray.shutdown()
            left = stop_process_group(process)
    assert left == [], f"processes of `make serve` left after its Ctrl-C: {left}"
