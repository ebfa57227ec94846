"""One real platform per test session: a local Ray cluster, the Serve app, real vLLM on CPU.

The app serves the CPU catalog's models (SmolLM2-135M-Instruct and tiny-llama) from the models dir
that `make test` prepares; tests talk to it over HTTP with real clients.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import ray
from ray import serve

from deployments import prepare_models
from serve_app.app import build_app_from
from serve_app.catalog import load_catalog
from serve_app.ray_env import use_serve_env
from serve_app.settings import Settings
from tests.support.oidc_issuer import AUDIENCE, TestIssuer, running_issuer

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "integration-admin-token"
APP_NAME = "llmaas"
READY_TIMEOUT_S = 600


@dataclass
class Platform:
    base_url: str
    settings: Settings
    issuer: TestIssuer

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
        catalog = load_catalog(ROOT / "catalog.cpu.yaml")
        serve.run(build_app_from(self.settings, catalog), name=APP_NAME, route_prefix="/", blocking=False)
        wait_until_healthy(self.base_url)

    def undeploy(self) -> None:
        serve.delete(APP_NAME)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(base_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the platform at {base_url} did not become healthy in {READY_TIMEOUT_S} s")


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
    models_dir = Path(os.environ.get("LLMAAS_MODELS_DIR", ROOT / ".models")).resolve()
    prepare_models.prepare_models(models_dir)
    issuer_context = running_issuer()
    issuer = issuer_context.__enter__()
    port = free_port()
    # Two ingress replicas, so that every test also checks that limits hold across replicas. Status probes
    # every 10 s, and hung engines replaced within about a minute (tests/integration/test_status.py); two busy
    # CPU cores are slow, not degraded.
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), models_dir=models_dir,
                        admin_token=ADMIN_TOKEN, key_cache_seconds=0, ingress_replicas=2,
                        oidc_issuer=issuer.url, oidc_audience=AUDIENCE,
                        status_probe_url=f"http://127.0.0.1:{port}", status_probe_seconds=10,
                        status_probe_timeout_seconds=15, engine_stall_seconds=30,
                        engine_health_check_period_seconds=2, status_degraded_ttfb_ms=60_000,
                        status_degraded_tokens_per_second=0)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    use_serve_env()  # as `make serve` runs it
    # More logical CPUs than the 2 cores: the engines idle most of the time in tests.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        platform = Platform(base_url=f"http://127.0.0.1:{port}", settings=settings, issuer=issuer)
        platform.deploy()
        yield platform
    finally:
        serve.shutdown()
        ray.shutdown()
        issuer_context.__exit__(None, None, None)
