"""Nothing phones home: under traffic, the platform's processes open no connection outside the machine.

Every process of the platform descends from this test session (its ``ray.init`` starts the GCS, raylet,
dashboard agents and the workers that run the replicas and their engines). While every endpoint is
driven, a sampler reads all their sockets over and over (psutil, i.e. /proc/<pid>/net and fds), and every
remote address must be this machine's: loopback, or one of its own interfaces (Ray talks to itself over
the node's address).
"""

from __future__ import annotations

import io
import ipaddress
import socket
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import openai
import psutil
import pytest

from serve_app.telemetry import NO_TELEMETRY_ENV
from tests.integration.conftest import Platform

CHAT_MODEL = "SmolLM2-135M-Instruct"


def local_addresses() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {ipaddress.ip_address(address.address.split("%")[0])
            for addresses in psutil.net_if_addrs().values() for address in addresses
            if address.family in (socket.AF_INET, socket.AF_INET6)}


def is_local(ip: str, own: set[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified or address in own


@dataclass
class Sampler:
    """Reads the sockets of every process below this one until stopped."""

    own: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=local_addresses)
    samples: int = 0
    processes: set[int] = field(default_factory=set)
    connections: set[tuple[str, int, str, int]] = field(default_factory=set)
    outside: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        for process in psutil.Process().children(recursive=True):
            try:
                sockets = process.net_connections(kind="inet")
                name = " ".join(process.cmdline())[:120]
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            self.processes.add(process.pid)
            for conn in sockets:
                if not conn.raddr:
                    continue  # listening, or an unconnected UDP socket
                self.connections.add((conn.laddr.ip, conn.laddr.port, conn.raddr.ip, conn.raddr.port))
                if not is_local(conn.raddr.ip, self.own):
                    self.outside.append(f"{name} (pid {process.pid}) -> {conn.raddr.ip}:{conn.raddr.port} "
                                        f"{conn.status}")
        self.samples += 1

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()


@pytest.fixture
def sampler() -> Iterator[Sampler]:
    sampler = Sampler()
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        sampler.stop.set()
        thread.join(timeout=60)


def silence_wav(seconds: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * int(16000 * seconds))
    return buffer.getvalue()


def drive_every_endpoint(platform: Platform, sdk: openai.OpenAI, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    for _ in range(2):
        sdk.models.list()
        sdk.chat.completions.create(model=CHAT_MODEL, max_tokens=8,
                                    messages=[{"role": "user", "content": "Name a colour."}])
        for _chunk in sdk.chat.completions.create(model=CHAT_MODEL, max_tokens=8, stream=True,
                                                  messages=[{"role": "user", "content": "Count to three."}]):
            pass
        sdk.completions.create(model="tiny-llama", prompt="Once upon a time", max_tokens=8)
        sdk.embeddings.create(model="all-MiniLM-L6-v2", input=["sovereign", "platform"])
        sdk.audio.transcriptions.create(model="whisper-tiny.en", file=("silence.wav", silence_wav()))
        for path in ("/health", "/status.json", "/metrics", "/v1/usage", "/lifecycle"):
            httpx.get(f"{platform.base_url}{path}", headers=headers, timeout=60)


def test_no_connection_leaves_the_machine_under_traffic(platform: Platform, sdk: openai.OpenAI, api_key: str,
                                                        sampler: Sampler) -> None:
    drive_every_endpoint(platform, sdk, api_key)
    sampler.stop.set()
    sampler.sample()  # one last full pass after the traffic
    port = int(platform.base_url.rsplit(":", 1)[1])
    print(f"\nno-phone-home: {sampler.samples} samples of {len(sampler.processes)} processes, "
          f"{len(sampler.connections)} distinct connections, {len(sampler.outside)} outside the machine")
    # The sampler saw the platform at work: many processes, and the connections its clients opened.
    assert sampler.samples >= 2 and len(sampler.processes) >= 5
    assert any(remote_port == port or local_port == port
               for _, local_port, _, remote_port in sampler.connections)
    assert sampler.outside == []


def test_every_replica_runs_with_telemetry_off(platform: Platform) -> None:
    """The platform's environment reaches every Serve replica (and so the engines they start)."""
    replicas = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "ServeReplica:" in " ".join(process.cmdline()):
                replicas.append((process.cmdline()[0], process.environ()))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    names = " ".join(name for name, _ in replicas)
    for deployment in ("Ingress", "StatusProber", "SmolLM2", "all-MiniLM", "whisper"):
        assert deployment in names, f"no replica of {deployment} among {names}"
    for name, environ in replicas:
        assert {key: environ.get(key) for key in NO_TELEMETRY_ENV} == dict(NO_TELEMETRY_ENV), name
