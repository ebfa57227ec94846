"""Debian's PostgreSQL server in a temporary folder, for the tests (`make test-packages` installs it)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class PostgresServer:
    """Debian's PostgreSQL server in a temporary folder, which a test may stop and start again."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        assert binaries, "PostgreSQL is missing: `make test-packages` installs Debian's postgresql"
        self.bin_dir = Path(binaries[-1])
        self.folder = Path(tempfile.mkdtemp(prefix="llmaas-pg-"))
        self.data, self.port = self.folder / "data", free_port()
        self.url = f"postgresql://llmaas@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(_as_postgres(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "llmaas",
                                    "--auth=trust"), check=True, capture_output=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            _as_postgres(str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                         "-k", str(self.folder), "-h", "127.0.0.1"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while subprocess.run([str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        """A fast shutdown: the server ends its sessions (a plain SIGTERM would wait for the clients' pooled
        connections to close) and stops accepting connections."""
        if self.process is not None:
            subprocess.run(_as_postgres(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                                        "stop"), check=True, capture_output=True)
            self.process.wait(timeout=30)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()
