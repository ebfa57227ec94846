"""Versioned migrations: a new database and one made by an earlier version (before migrations and organisations)
both reach the latest revision, whose schema is exactly what the code declares; keys made before organisations
land in the default organisation with their usage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import serve_app.audit
import serve_app.batches.blobs
import serve_app.batches.store
import serve_app.console.logins
import serve_app.console.sessions
import serve_app.governance.ledger
import serve_app.organisations.alert_store
import serve_app.organisations.store
import serve_app.status.tables  # noqa: F401 - every table of the platform declared on METADATA
from serve_app import migrations
from serve_app.database import METADATA, connect
from serve_app.governance.ledger import Ledger, UsageQuery
from serve_app.keys import KeyStore
from serve_app.organisations.model import DEFAULT_ORGANISATION
from serve_app.organisations.store import OrganisationStore
from serve_app.settings import Settings

# api_keys and usage_records as the first versions' create_all made them (before the owner, tier, quotas...
# columns).
EARLIER_SCHEMA = """
CREATE TABLE api_keys (id VARCHAR(64) NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,
    key_hash VARCHAR(64) NOT NULL, hint VARCHAR(32) NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER,
    UNIQUE (key_hash));
CREATE TABLE usage_records (request_id VARCHAR(200) NOT NULL PRIMARY KEY, key_id VARCHAR(64) NOT NULL,
    model VARCHAR(200) NOT NULL, endpoint VARCHAR(64) NOT NULL, day VARCHAR(10) NOT NULL, ended_at FLOAT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, audio_seconds FLOAT NOT NULL,
    cost_usd FLOAT NOT NULL, outcome VARCHAR(16) NOT NULL);
CREATE INDEX usage_by_key_time ON usage_records (key_id, ended_at);
CREATE INDEX usage_by_time ON usage_records (ended_at);
INSERT INTO api_keys VALUES ('key_old', 'an old key', 'abc', 'sk-...abcd', 1700000000, NULL);
INSERT INTO usage_records VALUES ('req_old', 'key_old', 'm', 'chat', '2026-12-01', 1764547200, 3, 4, 0, 0.5,
    'completed');
"""


def test_a_new_database_matches_what_the_code_declares(tmp_path: Path) -> None:
    engine = connect(Settings(data_dir=tmp_path))
    assert migrations.current(engine) == migrations.head()
    with engine.connect() as db:
        assert compare_metadata(MigrationContext.configure(db), METADATA) == []
    assert OrganisationStore(engine).get(DEFAULT_ORGANISATION) is not None


def test_an_earlier_install_migrates_and_its_keys_join_the_default_organisation(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "platform.sqlite3") as db:
        db.executescript(EARLIER_SCHEMA)
    engine = connect(Settings(data_dir=tmp_path))
    assert migrations.current(engine) == migrations.head()
    key = KeyStore(engine).get("key_old")
    assert key is not None and key.organisation_id == DEFAULT_ORGANISATION and key.tier == "starter"
    rows = Ledger(engine).summary(UsageQuery(organisation_id=DEFAULT_ORGANISATION, group_by=("key_id",)))
    assert [(row["key_id"], row["total_tokens"]) for row in rows] == [("key_old", 7)]
    with engine.connect() as db:
        assert compare_metadata(MigrationContext.configure(db), METADATA) == []
    connect(Settings(data_dir=tmp_path))  # a second start finds nothing to do


def test_concurrent_starts_migrate_once(tmp_path: Path) -> None:
    import concurrent.futures

    settings = Settings(data_dir=tmp_path)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: connect(settings), range(4)))
    assert {migrations.current(engine) for engine in engines} == {migrations.head()}
    assert len(OrganisationStore(engines[0]).all()) == 1
