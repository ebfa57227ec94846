"""TLS 1.3 only, on every HTTP port of a real platform (tests/support/tls_platform.py: its own small Ray
cluster, started by the code `make serve` runs, in Serve's throughput-optimized mode).

Two ports serve HTTP: Serve's proxy, and the ingress replica's own direct-ingress port (pinned here with
RAY_SERVE_DIRECT_INGRESS_{MIN,MAX}_HTTP_PORT). On both, a TLS 1.2 handshake is refused, plain HTTP is not
served, and TLS 1.3 serves the API to the official `openai` SDK.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from tests.support.certs import self_signed

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "tls-admin-token"
MODEL = "all-MiniLM-L6-v2"
READY_TIMEOUT_S = 600


@dataclass
class TlsPlatform:
    proxy_port: int
    direct_port: int
    cert: Path

    @property
    def ports(self) -> dict[str, int]:
        return {"proxy": self.proxy_port, "direct ingress": self.direct_port}

    def client_context(self, version: ssl.TLSVersion) -> ssl.SSLContext:
        """Trusts the platform's certificate, and speaks only ``version``."""
        context = ssl.create_default_context(cafile=str(self.cert))
        context.minimum_version = context.maximum_version = version
        return context


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM (Serve and Ray shut down), then kill by PID whatever of its tree is left."""
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for child in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


@pytest.fixture(scope="module")
def tls_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsPlatform]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(folder)
    platform = TlsPlatform(proxy_port=free_port(), direct_port=free_port(), cert=cert)
    models_dir = Path(os.environ.get("LLMAAS_MODELS_DIR", ROOT / ".models")).resolve()
    config = folder / "config.json"
    config.write_text(json.dumps({"data_dir": str(folder / "data"), "models_dir": str(models_dir),
                                  "admin_token": ADMIN_TOKEN, "cert": str(cert), "key": str(key),
                                  "port": platform.proxy_port, "ready_file": str(folder / "deployed")}))
    env = {**os.environ, "RAY_ADDRESS": "local",  # a cluster of its own, never the session's
           "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
           "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(platform.direct_port),
           "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(platform.direct_port + 1)}  # the end is excluded
    with (folder / "platform.log").open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "tests.support.tls_platform", str(config)], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (folder / "deployed").exists():
            assert process.poll() is None and time.monotonic() < deadline, \
                (folder / "platform.log").read_text()[-3000:]
            time.sleep(1)
        wait_until_healthy(platform)
        yield platform
    finally:
        stop(process)


def wait_until_healthy(platform: TlsPlatform) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    context = platform.client_context(ssl.TLSVersion.TLSv1_3)
    while time.monotonic() < deadline:
        try:
            if all(httpx.get(f"https://127.0.0.1:{port}/health", verify=context, timeout=30).status_code == 200
                   for port in platform.ports.values()):
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the TLS platform did not become healthy in {READY_TIMEOUT_S} s")


def handshake(port: int, context: ssl.SSLContext) -> str | None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        return conn.version()


@pytest.mark.parametrize("where", ["proxy", "direct ingress"])
def test_tls12_is_refused_and_tls13_accepted(tls_platform: TlsPlatform, where: str) -> None:
    port = tls_platform.ports[where]
    with pytest.raises(ssl.SSLError) as refused:
        handshake(port, tls_platform.client_context(ssl.TLSVersion.TLSv1_2))
    assert not isinstance(refused.value, ssl.SSLCertVerificationError)
    assert handshake(port, tls_platform.client_context(ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
@pytest.mark.parametrize("where", ["proxy", "direct ingress"])
def test_openssl_s_client_agrees(tls_platform: TlsPlatform, where: str) -> None:
    def s_client(flag: str) -> str:
        done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_platform.ports[where]}", flag,
                               "-CAfile", str(tls_platform.cert)], input="", capture_output=True, text=True,
                              timeout=60)
        return done.stdout + done.stderr

    assert "Cipher is (NONE)" in s_client("-tls1_2")
    accepted = s_client("-tls1_3")
    assert "New, TLSv1.3, Cipher is TLS_" in accepted and "Verify return code: 0 (ok)" in accepted


@pytest.mark.parametrize("where", ["proxy", "direct ingress"])
def test_plain_http_is_not_served(tls_platform: TlsPlatform, where: str) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_platform.ports[where]}/health", timeout=30)


@pytest.mark.parametrize("where", ["proxy", "direct ingress"])
def test_the_openai_sdk_works_over_tls13(tls_platform: TlsPlatform, where: str) -> None:
    base = f"https://127.0.0.1:{tls_platform.ports[where]}"
    with httpx.Client(verify=tls_platform.client_context(ssl.TLSVersion.TLSv1_3), timeout=120) as http:
        created = http.post(f"{base}/admin/v1/keys", json={"name": f"tls-{where}", "tier": "unlimited"},
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert created.status_code == 200, created.text
        sdk = openai.OpenAI(api_key=created.json()["key"], base_url=f"{base}/v1", http_client=http, max_retries=0)
        assert MODEL in [model.id for model in sdk.models.list()]
        answer = sdk.embeddings.create(model=MODEL, input=["TLS 1.3 only", "every port"])
        assert len(answer.data) == 2 and len(answer.data[0].embedding) == 384
        assert answer.usage.prompt_tokens > 0


def test_the_status_prober_probes_the_platform_over_tls(tls_platform: TlsPlatform) -> None:
    """The prober calls https:// (its URL was set as http://) and trusts the configured certificate."""
    context = tls_platform.client_context(ssl.TLSVersion.TLSv1_3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = httpx.get(f"https://127.0.0.1:{tls_platform.proxy_port}/status.json", verify=context, timeout=30)
        models = {model["id"]: model for model in status.json()["models"]}
        if (models[MODEL].get("last_probe") or {}).get("ok") is True:
            return
        time.sleep(2)
    raise AssertionError(f"no successful probe over TLS: {status.json()}")
