"""Batch files and batches in the platform's database (SQLite or PostgreSQL, like keys and the ledger).

Rows hold what OpenAI's file and batch objects show, the name of the encrypted blob on disk, and, while a batch
runs, its file key wrapped under the operator's secret; never a line of a file. A key's batches in flight are
counted in ``batch_slots``, taken and given back by conditional updates, so that concurrent creations on any
number of ingress replicas cannot pass the limit. A batch is run by the replica holding its claim, renewed while
it runs; a claim not renewed (the replica died) passes to another replica.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from serve_app.database import METADATA

Row = dict[str, Any]
TERMINAL = ("completed", "failed", "expired", "cancelled")
RUNNABLE = ("validating", "in_progress", "cancelling")

FILES = Table(
    "batch_files",
    METADATA,
    Column("id", String(40), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("purpose", String(16), nullable=False),  # batch | batch_output
    Column("filename", String(255), nullable=False),
    Column("bytes", Integer, nullable=False),  # of the plaintext, as OpenAI counts them
    Column("lines", Integer, nullable=False),
    Column("endpoint", String(64)),  # the url of every line of an input file
    Column("blob", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),  # UNIX seconds
    Column("expires_at", BigInteger, nullable=False),
    Index("batch_files_by_key", "key_id", "created_at"),
)

BATCHES = Table(
    "batches",
    METADATA,
    Column("id", String(40), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("input_file_id", String(40), nullable=False),
    Column("input_blob", String(64), nullable=False),
    Column("completion_window", String(8), nullable=False),
    Column("metadata", JSON),
    Column("errors", JSON),
    Column("total", Integer, nullable=False),
    Column("completed", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("output_file_id", String(40)),
    Column("error_file_id", String(40)),
    Column("output_retention", Integer, nullable=False),  # seconds the output files are kept
    Column("wrapped_key", LargeBinary),  # the file key under the operator's secret, only while the batch runs
    Column("claimed_by", String(64)),
    Column("claimed_until", Float),
    *(Column(name, BigInteger) for name in ("created_at", "in_progress_at", "finalizing_at", "completed_at",
                                          "failed_at", "expired_at", "cancelling_at", "cancelled_at", "expires_at")),
    Index("batches_by_key", "key_id", "created_at"),
    Index("batches_by_status", "status"),
)

SLOTS = Table(
    "batch_slots",
    METADATA,
    Column("key_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),  # "batches" in flight, or input "files" stored
    Column("taken", Integer, nullable=False),
)


class InFlightLimitError(Exception):
    """The key already holds as many of these (batches in flight, files stored) as it may."""


def _take_slot(db: Any, key_id: str, kind: str, most: int) -> None:
    """Takes one of the key's ``most`` slots of ``kind`` in the caller's transaction: a conditional update, so
    concurrent takers on any number of replicas never pass ``most``."""
    try:
        with db.begin_nested():
            db.execute(insert(SLOTS).values(key_id=key_id, kind=kind, taken=0))
    except IntegrityError:
        pass
    taken = db.execute(update(SLOTS).where(SLOTS.c.key_id == key_id, SLOTS.c.kind == kind, SLOTS.c.taken < most)
                       .values(taken=SLOTS.c.taken + 1)).rowcount
    if taken != 1:
        raise InFlightLimitError


def _give_slot(db: Any, key_id: str, kind: str) -> None:
    db.execute(update(SLOTS).where(SLOTS.c.key_id == key_id, SLOTS.c.kind == kind, SLOTS.c.taken > 0)
               .values(taken=SLOTS.c.taken - 1))


class BatchStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # files

    def add_file(self, row: Row, max_files: int) -> None:
        """Stores an input file's row if the key holds fewer than ``max_files`` (``InFlightLimitError`` else)."""
        with self._engine.begin() as db:
            _take_slot(db, row["key_id"], "files", max_files)
            db.execute(insert(FILES).values(**row))

    def file(self, file_id: str, key_id: str) -> Row | None:
        with self._engine.connect() as db:
            found = db.execute(select(FILES).where(FILES.c.id == file_id, FILES.c.key_id == key_id)).first()
        return dict(found._mapping) if found else None

    def files(self, key_id: str, purpose: str | None, limit: int, after: str | None, newest_first: bool) -> list[Row]:
        query = select(FILES).where(FILES.c.key_id == key_id)
        if purpose:
            query = query.where(FILES.c.purpose == purpose)
        return self._page(query, FILES, after, limit, newest_first)

    def remove_file(self, file_id: str, key_id: str) -> Row | None:
        """Deletes a file's row, unless a batch in flight reads it; the row deleted, or None."""
        with self._engine.begin() as db:
            row = db.execute(select(FILES).where(FILES.c.id == file_id, FILES.c.key_id == key_id)).first()
            if row is None or self._in_use(db, file_id):
                return None
            self._delete_file(db, row)
        return dict(row._mapping)

    @staticmethod
    def _delete_file(db: Any, row: Any) -> None:
        """Deletes a file's row once, giving back the key's file slot for an input file."""
        deleted = db.execute(delete(FILES).where(FILES.c.id == row.id)).rowcount
        if deleted == 1 and row.purpose == "batch":
            _give_slot(db, row.key_id, "files")

    def in_use(self, file_id: str) -> bool:
        with self._engine.connect() as db:
            return self._in_use(db, file_id)

    @staticmethod
    def _in_use(db: Any, file_id: str) -> bool:
        return db.execute(select(BATCHES.c.id).where(
            BATCHES.c.input_file_id == file_id, BATCHES.c.status.notin_(TERMINAL))).first() is not None

    def expired_files(self, now: float) -> list[Row]:
        with self._engine.connect() as db:
            rows = db.execute(select(FILES).where(FILES.c.expires_at <= now)).all()
        return [dict(row._mapping) for row in rows]

    def blob_names(self) -> set[str]:
        """Every blob a row still names (files, and the results of batches in flight)."""
        with self._engine.connect() as db:
            files = set(db.execute(select(FILES.c.blob)).scalars())
            running = db.execute(select(BATCHES.c.id).where(BATCHES.c.status.notin_(TERMINAL))).scalars()
            return files | {name for batch_id in running for name in result_blobs(batch_id)}

    # batches

    def create_batch(self, row: Row, max_in_flight: int) -> None:
        """Inserts the batch if the key has a slot left (``InFlightLimitError`` otherwise)."""
        with self._engine.begin() as db:
            _take_slot(db, row["key_id"], "batches", max_in_flight)
            db.execute(insert(BATCHES).values(**row))

    def batch(self, batch_id: str, key_id: str | None = None) -> Row | None:
        query = select(BATCHES).where(BATCHES.c.id == batch_id)
        if key_id is not None:
            query = query.where(BATCHES.c.key_id == key_id)
        with self._engine.connect() as db:
            found = db.execute(query).first()
        return dict(found._mapping) if found else None

    def batches(self, key_id: str, limit: int, after: str | None) -> list[Row]:
        return self._page(select(BATCHES).where(BATCHES.c.key_id == key_id), BATCHES, after, limit, True)

    def request_cancel(self, batch_id: str, now: int) -> None:
        with self._engine.begin() as db:
            db.execute(update(BATCHES).where(BATCHES.c.id == batch_id, BATCHES.c.status.in_(("validating",
                                                                                                "in_progress")))
                       .values(status="cancelling", cancelling_at=now))

    def claim(self, replica: str, now: float, until: float) -> Row | None:
        """Takes one runnable batch whose claim is free or lapsed, oldest first."""
        free = or_(BATCHES.c.claimed_until.is_(None), BATCHES.c.claimed_until < now)
        with self._engine.connect() as db:
            candidates = db.execute(select(BATCHES.c.id).where(BATCHES.c.status.in_(RUNNABLE), free)
                                    .order_by(BATCHES.c.created_at).limit(8)).scalars().all()
        for batch_id in candidates:
            with self._engine.begin() as db:
                taken = db.execute(update(BATCHES).where(BATCHES.c.id == batch_id, BATCHES.c.status.in_(RUNNABLE),
                                                         free)
                                   .values(claimed_by=replica, claimed_until=until)).rowcount
            if taken == 1:
                return self.batch(batch_id)
        return None

    def renew(self, batch_id: str, replica: str, until: float) -> str | None:
        """Extends this replica's claim; the batch's status, or None if the claim was lost."""
        with self._engine.begin() as db:
            renewed = db.execute(update(BATCHES).where(BATCHES.c.id == batch_id, BATCHES.c.claimed_by == replica)
                                 .values(claimed_until=until)).rowcount
            if renewed != 1:
                return None
            return db.execute(select(BATCHES.c.status).where(BATCHES.c.id == batch_id)).scalar()

    def start(self, batch_id: str, now: int) -> None:
        with self._engine.begin() as db:
            db.execute(update(BATCHES).where(BATCHES.c.id == batch_id, BATCHES.c.status == "validating")
                       .values(status="in_progress", in_progress_at=now))

    def progress(self, batch_id: str, completed: int, failed: int, input_tokens: int, output_tokens: int) -> None:
        with self._engine.begin() as db:
            db.execute(update(BATCHES).where(BATCHES.c.id == batch_id).values(
                completed=completed, failed=failed, input_tokens=input_tokens, output_tokens=output_tokens))

    def finish(self, batch_id: str, status: str, now: int, output: Row | None, error: Row | None,
               errors: Row | None = None) -> bool:
        """Ends a batch once: its status and time, the rows of its result files (``output``, ``error``), its
        input file gone, its wrapped key wiped, its slot given back. False if it had already ended."""
        assert status in TERMINAL
        with self._engine.begin() as db:
            row = db.execute(select(BATCHES).where(BATCHES.c.id == batch_id)).first()
            ended = db.execute(update(BATCHES).where(BATCHES.c.id == batch_id, BATCHES.c.status.notin_(TERMINAL))
                               .values(status=status, wrapped_key=None, claimed_by=None, claimed_until=None,
                                       errors=errors, finalizing_at=now, output_file_id=output and output["id"],
                                       error_file_id=error and error["id"], **{f"{status}_at": now}))
            if ended.rowcount != 1 or row is None:
                return False
            for result in (output, error):
                if result is not None:
                    db.execute(insert(FILES).values(**result))
            source = db.execute(select(FILES).where(FILES.c.id == row.input_file_id)).first()
            if source is not None:
                self._delete_file(db, source)
            _give_slot(db, row.key_id, "batches")
        return True

    def _page(self, query: Any, table: Table, after: str | None, limit: int, newest_first: bool) -> list[Row]:
        """A page of rows in creation order (ids break ties), starting after the row ``after``."""
        created, ident = table.c.created_at, table.c.id
        if after:
            with self._engine.connect() as db:
                anchor = db.execute(select(created, ident).where(ident == after)).first()
            if anchor is not None:
                if newest_first:
                    query = query.where(or_(created < anchor[0], and_(created == anchor[0], ident < anchor[1])))
                else:
                    query = query.where(or_(created > anchor[0], and_(created == anchor[0], ident > anchor[1])))
        order = (created.desc(), ident.desc()) if newest_first else (created, ident)
        with self._engine.connect() as db:
            return [dict(row._mapping) for row in db.execute(query.order_by(*order).limit(limit))]


def result_blobs(batch_id: str) -> tuple[str, str]:
    """The blobs a batch writes its results to: successes and errors."""
    return f"{batch_id}_output", f"{batch_id}_errors"
