"""Batch files in the platform's database: sequences of sealed records, one row a record.

Each record is sealed under the file's key (``serve_app.batches.crypto``), its associated data naming the blob
and the record's place in it. Records live in the platform's database, which every ingress replica reaches on
every node (PostgreSQL on a cluster), so any replica can take over a batch; an append is committed before it
counts, so a batch resumed after a crash finds every result it wrote. Nothing here holds a plaintext byte, and a
file's key is never stored (only wrapped, while its batch runs): once deleted, or once its batch has ended, what
may remain of a record in the database's free space cannot be opened. SQLite overwrites what it deletes
(``secure_delete``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Column, Engine, Integer, LargeBinary, String, Table, delete, func, insert, select

from serve_app.batches.crypto import SEAL_OVERHEAD, open_sealed, record_context, seal
from serve_app.database import METADATA

RECORDS = Table(
    "batch_blob_records",
    METADATA,
    Column("blob", String(64), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("sealed", LargeBinary, nullable=False),
)
WRITE_CHUNK = 1000


class Blobs:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write(self, blob: str, key: bytes, records: Iterable[bytes]) -> None:
        """A new blob of ``records``, written whole or not at all."""
        rows = [{"blob": blob, "position": index, "sealed": seal(key, record, record_context(blob, index))}
                for index, record in enumerate(records)]
        with self._engine.begin() as db:
            for start in range(0, len(rows), WRITE_CHUNK):
                db.execute(insert(RECORDS), rows[start:start + WRITE_CHUNK])

    def read(self, blob: str, key: bytes) -> Iterator[bytes]:
        """The records of a blob, opened with ``key`` (``KeyMismatchError`` on a wrong key or a moved record)."""
        with self._engine.connect() as db:
            rows = db.execute(select(RECORDS.c.position, RECORDS.c.sealed).where(RECORDS.c.blob == blob)
                              .order_by(RECORDS.c.position)).all()
        for position, sealed in rows:
            yield open_sealed(key, sealed, record_context(blob, position))

    def check_key(self, blob: str, key: bytes) -> None:
        """Opens the blob's first record with ``key`` (``KeyMismatchError`` if it does not open); reads no other."""
        with self._engine.connect() as db:
            sealed = db.execute(select(RECORDS.c.sealed).where(RECORDS.c.blob == blob, RECORDS.c.position == 0)
                                ).scalar()
        if sealed is not None:
            open_sealed(key, sealed, record_context(blob, 0))

    def plaintext_bytes(self, blob: str) -> int:
        """The bytes of the blob's records once opened (each sealed record carries a fixed overhead)."""
        with self._engine.connect() as db:
            count, sealed = db.execute(select(func.count(), func.coalesce(func.sum(func.length(RECORDS.c.sealed)), 0))
                                       .where(RECORDS.c.blob == blob)).one()
        return int(sealed) - SEAL_OVERHEAD * int(count)

    def appender(self, blob: str, key: bytes) -> Appender:
        """Appends to ``blob`` (created by the first append), after the records it holds."""
        with self._engine.connect() as db:
            count = db.execute(select(func.count()).where(RECORDS.c.blob == blob)).scalar_one()
        return Appender(self._engine, blob, key, count)

    def delete(self, blob: str) -> None:
        with self._engine.begin() as db:
            db.execute(delete(RECORDS).where(RECORDS.c.blob == blob))

    def names(self) -> set[str]:
        """The blobs stored (to find those no row names any more)."""
        with self._engine.connect() as db:
            return set(db.execute(select(RECORDS.c.blob).distinct()).scalars())


class Appender:
    def __init__(self, engine: Engine, blob: str, key: bytes, count: int) -> None:
        self._engine = engine
        self.blob = blob
        self._key = key
        self.count = count

    def append(self, record: bytes) -> None:
        sealed = seal(self._key, record, record_context(self.blob, self.count))
        with self._engine.begin() as db:
            db.execute(insert(RECORDS).values(blob=self.blob, position=self.count, sealed=sealed))
        self.count += 1
