"""Keys, the ledger and the meter on a real PostgreSQL (Debian's server, started here in a temp folder)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_app.database import connect
from serve_app.governance.ledger import Ledger, UsageQuery
from serve_app.governance.meter import MeterCore
from serve_app.governance.quotas import Quotas
from serve_app.governance.records import AdmissionRequest, UsageRecord
from serve_app.keys import KeyStore, hash_secret
from serve_app.settings import Settings
from tests.integration.conftest import free_port


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert binaries, "PostgreSQL is missing: `make test-packages` installs Debian's postgresql"
    bin_dir = Path(binaries[-1])
    folder = Path(tempfile.mkdtemp(prefix="llmaas-pg-"))
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    subprocess.run(_as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "llmaas", "--auth=trust"),
                   check=True, capture_output=True)
    server = subprocess.Popen(_as_postgres(str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                                           "-k", str(folder), "-h", "127.0.0.1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.2)
        yield f"postgresql://llmaas@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=postgres_url, data_dir=tmp_path)


def test_keys_live_in_postgres(settings: Settings) -> None:
    store = KeyStore(connect(settings))
    key, secret = store.create("pg", tier="free", quotas=Quotas(tokens_per_day=5))
    assert store.find_by_hash(hash_secret(secret)) == key
    rotated = store.rotate(key.id)
    assert rotated is not None and store.find_by_hash(hash_secret(rotated[1])).id == key.id  # type: ignore[union-attr]
    assert store.find_by_hash(hash_secret(secret)) is None
    assert not list(settings.data_dir.iterdir())  # nothing went to SQLite


async def test_the_ledger_and_meter_run_on_postgres(settings: Settings) -> None:
    meter = MeterCore(settings)
    limits = tuple(Quotas(tokens_per_minute=50).limits())
    key = f"key-{time.time_ns()}"
    assert (await meter.admit(AdmissionRequest(key, f"{key}-1", limits))).admitted
    record = UsageRecord(f"{key}-1", key, "m", "chat.completions", 30, 25, cost_usd=0.5, ended_at=time.time())
    assert await meter.report([record, record]) == 1
    assert await meter.report([record]) == 0
    assert not (await MeterCore(settings).admit(AdmissionRequest(key, f"{key}-2", limits))).admitted
    rows = Ledger(connect(settings)).summary(UsageQuery(key_id=key, group_by=("model",)))
    assert [(r["model"], r["requests"], r["total_tokens"], r["cost_usd"]) for r in rows] == [("m", 1, 55, 0.5)]
