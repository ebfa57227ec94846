"""Keys, the ledger and the meter on a real PostgreSQL (Debian's server, started here in a temp folder)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError

from serve_app.batches.blobs import Blobs
from serve_app.batches.crypto import KeyMismatchError, new_file_key
from serve_app.batches.store import BatchStore
from serve_app.database import connect
from serve_app.errors import ServiceUnavailableError
from serve_app.governance.ledger import Ledger, UsageQuery
from serve_app.governance.meter import MeterCore
from serve_app.governance.quotas import Measure, Quotas
from serve_app.governance.records import AdmissionRequest, UsageRecord
from serve_app.governance.spool import DRAIN_RETRY_SECONDS
from serve_app.keys import KeyCache, KeyStore, hash_secret
from serve_app.settings import Settings
from tests.support.batches import check_store_under_races
from tests.support.postgres import PostgresServer, running_postgres


class Clock:
    """The wall clock, which a test may move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    if postgres.process is None:  # a test that stopped it failed before starting it again
        postgres.start()
    return postgres.url


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


async def test_usage_is_kept_while_postgres_is_down_and_reaches_the_ledger_once_when_it_is_back(
        postgres: PostgresServer, settings: Settings) -> None:
    """Policy (README, "When the database is down"): requests already admitted, and keys checked moments ago,
    are served; their usage is spooled on the actor's node and counted against limits, then moved to the
    ledger once; a key that must be looked up is a 503 and a metering actor cannot start."""
    clock = Clock()
    meter = MeterCore(settings, clock)
    key = f"key-{time.time_ns()}"
    limits = tuple(Quotas(tokens_per_day=1_000_000).limits())
    keys = KeyCache(KeyStore(connect(settings)), ttl_seconds=60)
    _, secret = KeyStore(connect(settings)).create("pg-outage", tier="free")
    assert keys.lookup(secret) is not None
    acknowledged: list[UsageRecord] = []
    stop = asyncio.Event()

    async def load(worker: int) -> None:
        """Admits and reports requests until told to stop, resending a batch the meter failed to take."""
        index = 0
        while not stop.is_set():
            request_id = f"{key}-{worker}-{index}"
            assert (await meter.admit(AdmissionRequest(key, request_id, limits, {Measure.TOKENS: 20}))).admitted
            record = UsageRecord(request_id, key, "m", "chat.completions", 7 + worker, index % 5,
                                 cost_usd=0.001, ended_at=time.time())
            await meter.report([record])
            await meter.report([record])  # a batch sent again (its first answer was lost) counts once
            acknowledged.append(record)
            index += 1
            await asyncio.sleep(0.01)

    workers = [asyncio.create_task(load(worker)) for worker in range(3)]
    await asyncio.sleep(0.5)
    await asyncio.to_thread(postgres.stop)
    await asyncio.sleep(1.0)  # served while the database is down
    assert meter.spooled > 0
    with pytest.raises(ServiceUnavailableError) as refused:
        keys.lookup("sk-" + "0" * 43)
    assert refused.value.code == "database_unavailable" and refused.value.status_code == 503
    assert keys.lookup(secret) is not None  # checked moments ago: still served
    with pytest.raises(SQLAlchemyError):
        MeterCore(settings)  # a metering actor cannot start without the ledger (admission is then a 503)
    await asyncio.to_thread(postgres.start)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*workers)
    deadline = time.monotonic() + 30
    while meter.spooled:  # the next call after the retry delay moves the spool to the ledger
        assert time.monotonic() < deadline, f"{meter.spooled} records still spooled"
        clock.offset += DRAIN_RETRY_SECONDS
        await meter.renew([])
        await asyncio.sleep(0.1)
    rows = Ledger(connect(settings)).summary(UsageQuery(key_id=key))
    assert rows[0]["requests"] == len(acknowledged) == len({r.request_id for r in acknowledged})
    assert rows[0]["total_tokens"] == sum(r.prompt_tokens + r.completion_tokens for r in acknowledged)
    restarted = MeterCore(settings)  # and a new incarnation counts each of them once
    status = (await restarted.admit(AdmissionRequest(key, f"{key}-after", limits))).statuses[0]
    assert status.used == rows[0]["total_tokens"]


def test_the_batch_store_holds_under_racing_replicas_on_postgres(settings: Settings) -> None:
    check_store_under_races(BatchStore(connect(settings)), "key_pg_race")


def test_a_batchs_billed_runs_are_found_by_their_prefix_on_postgres(settings: Settings) -> None:
    ledger = Ledger(connect(settings))
    records = [UsageRecord(request_id=rid, key_id="key_b", model="m", endpoint="chat.completions", prompt_tokens=1,
                           completion_tokens=1, outcome=outcome, ended_at=time.time())
               for rid, outcome in (("batch_x-1-aa", "completed"), ("batch_x-2-bb", "error"),
                                    ("batch_xy-1-cc", "completed"), ("batch%x-1-dd", "completed"))]
    ledger.write(records)
    assert ledger.completed_under("batch_x-") == ["batch_x-1-aa"]  # `_` and `%` are not wildcards


def test_sealed_batch_records_on_postgres(settings: Settings) -> None:
    blobs = Blobs(connect(settings))
    key = new_file_key()
    blobs.write("in_pg", key, [b"one", b"two"])
    appender = blobs.appender("in_pg", key)
    appender.append(b"three")
    assert list(blobs.read("in_pg", key)) == [b"one", b"two", b"three"]
    assert blobs.plaintext_bytes("in_pg") == len(b"onetwothree")
    blobs.check_key("in_pg", key)
    with pytest.raises(KeyMismatchError):
        list(blobs.read("in_pg", new_file_key()))
    blobs.delete("in_pg")
    assert "in_pg" not in blobs.names()


def test_an_earlier_install_on_postgres_migrates_once_under_concurrent_starts(postgres_url: str,
                                                                               tmp_path: Path) -> None:
    """A database made by a version before migrations and organisations, started by four processes' worth of
    connections at once: one migrates (the advisory lock), the keys land in the default organisation, and the
    schema is then exactly what the code declares."""
    import concurrent.futures

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, text

    from serve_app import migrations
    from serve_app.database import METADATA
    from serve_app.organisations.store import OrganisationStore
    from tests.unit.test_migrations import EARLIER_SCHEMA

    admin = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text("DROP DATABASE IF EXISTS earlier_install"))
        db.execute(text("CREATE DATABASE earlier_install"))
    url = postgres_url.rsplit("/", 1)[0] + "/earlier_install"
    earlier = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with earlier.begin() as db:
        for statement in filter(str.strip, EARLIER_SCHEMA.split(";")):
            db.execute(text(statement))
    settings = Settings(database_url=url, data_dir=tmp_path)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: connect(settings), range(4)))
    assert {migrations.current(engine) for engine in engines} == {migrations.head()}
    key = KeyStore(engines[0]).get("key_old")
    assert key is not None and key.organisation_id == "org_default"
    assert [org.id for org in OrganisationStore(engines[0]).all()] == ["org_default"]
    rows = Ledger(engines[0]).summary(UsageQuery(organisation_id="org_default", group_by=("key_id",)))
    assert [(row["key_id"], row["total_tokens"]) for row in rows] == [("key_old", 7)]
    with engines[0].connect() as db:
        assert compare_metadata(MigrationContext.configure(db), METADATA) == []
