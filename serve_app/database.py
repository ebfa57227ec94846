"""The platform's database: keys, the usage ledger and incidents.

SQLite under ``LLMAAS_DATA_DIR`` by default (WAL, so that every replica and actor on the node shares it);
PostgreSQL when ``LLMAAS_DATABASE_URL`` names one (needed when replicas run on several nodes). SQLAlchemy
Core speaks both; each store declares its tables on :data:`METADATA`, and versioned migrations
(serve_app/migrations) create and change them: a test checks that the two agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event

from serve_app.migrations import upgrade
from serve_app.settings import Settings

METADATA = MetaData()
SQLITE_FILE = "platform.sqlite3"
CONNECT_TIMEOUT_SECONDS = 3


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the platform's database (``postgresql://`` is driven by psycopg 3)."""
    if settings.database_url:
        url = settings.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url
    return f"sqlite:///{settings.data_dir / SQLITE_FILE}"


def connect(settings: Settings) -> Engine:
    """An engine for the platform's database, migrated to the latest schema revision (serve_app/migrations);
    SQLite's folder is created if needed."""
    engine = connect_unmigrated(settings)
    upgrade(engine)
    return engine


def connect_unmigrated(settings: Settings) -> Engine:
    """An engine for the platform's database as it is."""
    url = database_url(settings)
    if not url.startswith("sqlite"):
        # A server that cannot be reached fails a connection in seconds, not after the system's TCP timeout.
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4,
                             connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return _sqlite(url)


def sqlite_file(path: Path) -> Engine:
    """An engine for a local SQLite file; its folder is created if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _sqlite(f"sqlite:///{path}")


def _sqlite(url: str) -> Engine:
    """WAL, so that every replica and actor on the node shares the file."""
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left in free pages
    cursor.close()
