"""TLS 1.3 only (serve_app/tls.py) and the platform's environment (serve_app/telemetry.py).

The handshake tests run Ray Serve's own HTTP server function (the one its proxies and direct-ingress
replicas call) in a subprocess, with and without the platform's OpenSSL configuration: they fail if Ray
stops serving TLS from ``HTTPOptions`` or starts building its SSL context in a way that undoes it.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from serve_app import app as app_module
from serve_app import tls
from serve_app.catalog import Catalog
from serve_app.ray_env import REQUIRED_SERVE_ENV, SERVE_ENV
from serve_app.settings import Settings
from serve_app.telemetry import NO_TELEMETRY_ENV, platform_env
from tests.support.certs import self_signed

SERVER = """
import asyncio, sys
from ray.serve._private.http_util import start_asgi_http_server
from ray.serve.config import HTTPOptions

async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"served"})

async def main():
    options = HTTPOptions(host="127.0.0.1", port=int(sys.argv[1]), ssl_certfile=sys.argv[2], ssl_keyfile=sys.argv[3])
    task, server = await start_asgi_http_server(app, options, event_loop=asyncio.get_running_loop())
    while not server.started:
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await task

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def serve_https(certificate: tuple[Path, Path], env: dict[str, str]) -> Iterator[int]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), *map(str, certificate)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield port
    finally:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def tls13_port(certificate: tuple[Path, Path]) -> Iterator[int]:
    """Ray's HTTP server with the certificate, in a process started with the platform's environment."""
    settings = Settings(tls_cert=certificate[0], tls_key=certificate[1])
    yield from serve_https(certificate, {**os.environ, **tls.server_env(settings)})


@pytest.fixture(scope="module")
def default_port(certificate: tuple[Path, Path]) -> Iterator[int]:
    """The same server in a process without it: Python's and OpenSSL's defaults."""
    env = {name: value for name, value in os.environ.items() if name != "OPENSSL_CONF"}
    yield from serve_https(certificate, env)


def client(cafile: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile))
    context.minimum_version = context.maximum_version = version
    return context


def handshake(port: int, context: ssl.SSLContext) -> tuple[str | None, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
        return conn.version(), answer


def test_tls12_handshake_is_refused(tls13_port: int, certificate: tuple[Path, Path]) -> None:
    with pytest.raises(ssl.SSLError) as refused:  # the server ends the handshake (no TLS 1.2 alert is owed)
        handshake(tls13_port, client(certificate[0], ssl.TLSVersion.TLSv1_2))
    assert not isinstance(refused.value, ssl.SSLCertVerificationError)


def test_tls13_handshake_is_served(tls13_port: int, certificate: tuple[Path, Path]) -> None:
    version, answer = handshake(tls13_port, client(certificate[0], ssl.TLSVersion.TLSv1_3))
    assert version == "TLSv1.3"
    assert answer.startswith(b"HTTP/1.1 200") and b"served" in answer


def test_plain_http_is_not_served(tls13_port: int) -> None:
    with socket.create_connection(("127.0.0.1", tls13_port), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"served" not in conn.recv(4096)


def test_without_the_platform_config_tls12_would_be_accepted(default_port: int,
                                                              certificate: tuple[Path, Path]) -> None:
    """The control: it is the OpenSSL configuration that refuses TLS 1.2, and the TLS 1.2 client works."""
    version, answer = handshake(default_port, client(certificate[0], ssl.TLSVersion.TLSv1_2))
    assert version == "TLSv1.2" and b"served" in answer


def test_cert_and_key_come_from_the_environment_together(tmp_path: Path) -> None:
    settings = Settings.from_env({"LLMAAS_TLS_CERT": "cert.pem", "LLMAAS_TLS_KEY": "key.pem"}).resolved(tmp_path)
    assert settings.tls_cert == tmp_path / "cert.pem" and settings.tls_key == tmp_path / "key.pem"
    assert tls.http_options(settings) == {"ssl_certfile": str(tmp_path / "cert.pem"),
                                          "ssl_keyfile": str(tmp_path / "key.pem")}
    with pytest.raises(ValidationError, match="together"):
        Settings.from_env({"LLMAAS_TLS_CERT": "cert.pem"})
    plain = Settings().resolved(tmp_path)
    assert plain.tls_cert is None and not tls.enabled(plain) and tls.http_options(plain) == {}


def test_the_openssl_config_ships_with_the_code() -> None:
    text = tls.OPENSSL_CONF_FILE.read_text()
    assert "Protocol = -ALL, TLSv1.3" in text


def test_the_prober_calls_https_and_trusts_the_configured_certificate(certificate: tuple[Path, Path]) -> None:
    settings = Settings(tls_cert=certificate[0], tls_key=certificate[1], status_probe_url="http://127.0.0.1:8443")
    assert tls.probe_url(settings) == "https://127.0.0.1:8443"
    context = tls.probe_verify(settings)
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3 and context.check_hostname
    assert any(dict(item[0] for item in ca["subject"]).get("commonName") == "localhost"
               for ca in context.get_ca_certs())
    plain = Settings(status_probe_url="http://127.0.0.1:8000")
    assert tls.probe_url(plain) == "http://127.0.0.1:8000" and tls.probe_verify(plain) is True


CATALOG = Catalog.model_validate({"models": [
    {"id": "m", "family": "Fake", "engine": "vllm", "source": "none", "capabilities": ["chat"],
     "context_length": 64, "engine_env": {"OMP_NUM_THREADS": "2", "VLLM_NO_USAGE_STATS": "0"}},
]})


def actor_env(application: Any) -> dict[str, str]:
    return dict(application._bound_deployment.ray_actor_options["runtime_env"]["env_vars"])


@pytest.mark.parametrize("with_tls", [False, True])
def test_every_deployment_runs_with_telemetry_off(settings: Settings, certificate: tuple[Path, Path],
                                                  with_tls: bool) -> None:
    if with_tls:
        settings = settings.model_copy(update={"tls_cert": certificate[0], "tls_key": certificate[1]})
    application = app_module.build_app_from(settings, CATALOG)
    ingress = application._bound_deployment
    model = ingress.init_args[2]["m"]
    prober = ingress.init_args[3]
    openssl = {"OPENSSL_CONF": str(tls.OPENSSL_CONF_FILE)} if with_tls else {}
    expected = {**NO_TELEMETRY_ENV, **REQUIRED_SERVE_ENV, **openssl}
    assert platform_env(settings) == expected
    for deployment in (application, model, prober):
        assert actor_env(deployment).items() >= expected.items()
    assert actor_env(model)["VLLM_NO_USAGE_STATS"] == "1"  # the catalog cannot turn it back on
    assert actor_env(model)["OMP_NUM_THREADS"] == "2"
    assert ingress.ray_actor_options["num_cpus"] == 0  # the deployments' own options are kept


def test_start_serve_switches_telemetry_off_before_ray_starts(settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NO_TELEMETRY_ENV:
        monkeypatch.delenv(name, raising=False)
    app_module.start_serve(settings)  # no TLS: Ray and Serve are left to `serve run`
    assert {name: os.environ[name] for name in NO_TELEMETRY_ENV} == dict(NO_TELEMETRY_ENV)


def test_start_serve_sets_serves_own_settings_keeping_the_operators(settings: Settings,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_SERVE_CONTROL_LOOP_INTERVAL_S", "0.2")
    app_module.start_serve(settings)
    assert os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert os.environ["RAY_SERVE_CONTROL_LOOP_INTERVAL_S"] == "0.2"  # the operator's value wins
    assert SERVE_ENV["RAY_SERVE_CONTROL_LOOP_INTERVAL_S"] == "0.5"


def test_tls_fails_closed_when_the_running_serve_would_not_serve_it(settings: Settings,
                                                                     certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with_tls = settings.model_copy(update={"tls_cert": cert, "tls_key": key})
    with pytest.raises(tls.TLSNotAppliedError, match=r"serves plain HTTP.*serve shutdown"):
        tls.check_applied(with_tls, None, None)
    with pytest.raises(tls.TLSNotAppliedError, match=r"serves the certificate /elsewhere/cert\.pem"):
        tls.check_applied(with_tls, "/elsewhere/cert.pem", str(key))
    tls.check_applied(with_tls, str(cert), str(key))
    tls.check_applied(settings, None, None)  # no TLS configured: nothing to check
