"""Versioned schema migrations (Alembic): every process that opens the platform's database brings it to the
latest revision first (:func:`upgrade`), so an install of any earlier version, SQLite or PostgreSQL, migrates
itself on its next start; a database at the latest revision costs one query.

Several processes start at once (ingress replicas, the metering actor, the status prober): one migrates while
the others wait, on a PostgreSQL advisory lock, or a file lock beside a SQLite file; then each sees the latest
revision and goes on. ``python -m serve_app.migrations`` prints the database's revision and the latest one.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

HERE = Path(__file__).parent
ADVISORY_LOCK = 0x6C6C6D61  # "llma": the key of PostgreSQL's advisory lock for migrations


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The latest revision."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Brings the database to the latest revision (nothing to do: one query)."""
    latest = head()
    if current(engine) == latest:
        return
    with _exclusive(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        if MigrationContext.configure(connection).get_current_revision() != latest:
            command.upgrade(_config(connection), "head")


@contextlib.contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    """For a SQLite file, a lock file beside it (SQLite has no lock that spans Alembic's several statements)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
