"""The usage ledger: one row per metered request, written by the metering actor, idempotent by request id.

It holds counts and prices only (key id, model, endpoint, tokens, audio seconds, cost, outcome, time),
never a prompt, an answer or an audio file.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Float, Index, Integer, String, Table, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from serve_app.database import METADATA
from serve_app.governance.quotas import Measure
from serve_app.governance.records import UsageRecord

LOGGER = logging.getLogger(__name__)
USAGE = Table(
    "usage_records",
    METADATA,
    Column("request_id", String(200), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("day", String(10), nullable=False),
    Column("ended_at", Float, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("audio_seconds", Float, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("organisation_id", String(64)),
    Index("usage_by_key_time", "key_id", "ended_at"),
    Index("usage_by_time", "ended_at"),
    Index("usage_by_organisation_time", "organisation_id", "ended_at"),
)

GROUPS = ("key_id", "model", "day", "endpoint", "organisation_id")


@dataclass(frozen=True)
class UsageQuery:
    key_id: str | None = None
    model: str | None = None
    organisation_id: str | None = None
    start: dt.date | None = None  # inclusive, UTC days
    end: dt.date | None = None  # inclusive
    group_by: tuple[str, ...] = ()


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write(self, records: Sequence[UsageRecord]) -> list[UsageRecord]:
        """Stores the records not stored yet (by request id) in one transaction; returns those.

        A record the database refuses (a value it cannot hold) does not hold back the others: the batch is
        written again one record at a time, and each refused record is set aside, logged (ids and the
        error's kind, nothing else) and returned with the new ones, so that its use still counts against
        the key's limits and the sender does not send it again forever. A database that cannot be reached
        raises, and the sender tries again later."""
        if not records:
            return []
        unique = list({record.request_id: record for record in records}.values())
        try:
            return self._write_new(unique)
        except StatementError as error:
            if not _refused(error):
                raise
        new: list[UsageRecord] = []
        for record in unique:
            try:
                new += self._write_new([record])
            except StatementError as error:
                if not _refused(error):
                    raise
                _set_aside(record, error)
                new.append(record)
        return new

    def _write_new(self, unique: list[UsageRecord]) -> list[UsageRecord]:
        with self._engine.begin() as db:
            known = set(db.execute(select(USAGE.c.request_id).where(
                USAGE.c.request_id.in_([record.request_id for record in unique]))).scalars())
            new = [record for record in unique if record.request_id not in known]
            if new:
                dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
                db.execute(dialect.insert(USAGE).on_conflict_do_nothing(), [_row(record) for record in new])
        return new

    def oldest(self, limit: int) -> list[UsageRecord]:
        """Up to ``limit`` records, the oldest first (a spool's records on their way to the ledger)."""
        with self._engine.connect() as db:
            rows = db.execute(select(USAGE).order_by(USAGE.c.ended_at).limit(limit))
            return [_record(row._mapping) for row in rows]

    def delete(self, request_ids: Sequence[str]) -> None:
        with self._engine.begin() as db:
            db.execute(USAGE.delete().where(USAGE.c.request_id.in_(list(request_ids))))

    def completed_under(self, prefix: str) -> list[str]:
        """The request ids starting with ``prefix`` whose requests completed (a batch's lines already billed)."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._engine.connect() as db:
            return list(db.execute(select(USAGE.c.request_id).where(
                USAGE.c.request_id.like(pattern, escape="\\"), USAGE.c.outcome == "completed")).scalars())

    def count(self) -> int:
        with self._engine.connect() as db:
            return int(db.execute(select(func.count()).select_from(USAGE)).scalar_one())

    def window_totals(self, window_start: float) -> dict[tuple[str, Measure], float]:
        """Each key's and each organisation's use since ``window_start`` (an organisation under its
        :func:`organisation_subject`): what a restarted actor's counters start from."""
        totals: dict[tuple[str, Measure], float] = {}
        for column, subject in ((USAGE.c.key_id, str), (USAGE.c.organisation_id, organisation_subject)):
            query = (select(column, func.count(), func.sum(USAGE.c.prompt_tokens + USAGE.c.completion_tokens),
                            func.sum(USAGE.c.completion_tokens), func.sum(USAGE.c.cost_usd),
                            func.sum(USAGE.c.audio_seconds))
                     .where(USAGE.c.ended_at >= window_start, column.is_not(None)).group_by(column))
            with self._engine.connect() as db:
                for owner, requests, tokens, output, cost, audio in db.execute(query):
                    for measure, value in ((Measure.REQUESTS, requests), (Measure.TOKENS, tokens),
                                           (Measure.OUTPUT_TOKENS, output), (Measure.COST, cost),
                                           (Measure.AUDIO_SECONDS, audio)):
                        totals[subject(owner), measure] = float(value or 0)
        return totals

    def summary(self, query: UsageQuery) -> list[dict[str, object]]:
        """Totals (requests, tokens, audio, cost) over the query's filters, one row per group."""
        groups = [USAGE.c[name] for name in query.group_by]
        statement = select(
            *groups,
            func.count().label("requests"),
            func.coalesce(func.sum(USAGE.c.prompt_tokens), 0).label("prompt_tokens"),
            func.coalesce(func.sum(USAGE.c.completion_tokens), 0).label("completion_tokens"),
            func.coalesce(func.sum(USAGE.c.audio_seconds), 0.0).label("audio_seconds"),
            func.coalesce(func.sum(USAGE.c.cost_usd), 0.0).label("cost_usd"),
        )
        if query.key_id is not None:
            statement = statement.where(USAGE.c.key_id == query.key_id)
        if query.model is not None:
            statement = statement.where(USAGE.c.model == query.model)
        if query.organisation_id is not None:
            statement = statement.where(USAGE.c.organisation_id == query.organisation_id)
        if query.start is not None:
            statement = statement.where(USAGE.c.day >= query.start.isoformat())
        if query.end is not None:
            statement = statement.where(USAGE.c.day <= query.end.isoformat())
        if groups:
            statement = statement.group_by(*groups).order_by(*groups)
        with self._engine.connect() as db:
            rows = [dict(row._mapping) for row in db.execute(statement)]
        return [_rounded(row) for row in rows if row["requests"]]

    def spent(self, key_id: str, since: float | None = None) -> float:
        return self._spent(USAGE.c.key_id == key_id, since)

    def spent_by_organisation(self, organisation_id: str, since: float | None = None) -> float:
        return self._spent(USAGE.c.organisation_id == organisation_id, since)

    def _spent(self, condition: Any, since: float | None) -> float:
        statement = select(func.coalesce(func.sum(USAGE.c.cost_usd), 0.0)).where(condition)
        if since is not None:
            statement = statement.where(USAGE.c.ended_at >= since)
        with self._engine.connect() as db:
            return float(db.execute(statement).scalar_one())


def create_spool_table(engine: Engine) -> None:
    """The usage table in a metering actor's local spool file, which is scratch, not the platform's database (no
    migrations): made here, and given the organisation column if an earlier version made it."""
    METADATA.create_all(engine, tables=[USAGE])
    if "organisation_id" not in {column["name"] for column in inspect(engine).get_columns(USAGE.name)}:
        with engine.begin() as db:
            db.execute(text(f"ALTER TABLE {USAGE.name} ADD COLUMN organisation_id VARCHAR(64)"))


def organisation_subject(organisation_id: str) -> str:
    """What the metering actor counts an organisation's use under (beside its keys' ids)."""
    return "org:" + organisation_id


def _refused(error: StatementError) -> bool:
    """The database (or the driver, before sending) refused a value; not a database that cannot be reached."""
    return isinstance(error, DataError | IntegrityError) or not isinstance(error, DBAPIError)


def _set_aside(record: UsageRecord, error: Exception) -> None:
    LOGGER.error("usage record set aside, refused by the database: request %s, key %s, model %s, %s",
                 record.request_id[:64], record.key_id[:64] if isinstance(record.key_id, str) else None,
                 record.model[:64] if isinstance(record.model, str) else None, type(error.__cause__ or error).__name__)


def _row(record: UsageRecord) -> dict[str, object]:
    return {"request_id": record.request_id, "key_id": record.key_id, "model": record.model,
            "endpoint": record.endpoint, "day": record.day, "ended_at": record.ended_at,
            "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
            "audio_seconds": record.audio_seconds, "cost_usd": record.cost_usd, "outcome": record.outcome,
            "organisation_id": record.organisation_id}


def _record(row: Any) -> UsageRecord:
    return UsageRecord(request_id=row["request_id"], key_id=row["key_id"], model=row["model"],
                       endpoint=row["endpoint"], prompt_tokens=row["prompt_tokens"],
                       completion_tokens=row["completion_tokens"], audio_seconds=row["audio_seconds"],
                       cost_usd=row["cost_usd"], outcome=row["outcome"], ended_at=row["ended_at"],
                       organisation_id=row["organisation_id"])


def _rounded(row: dict[str, object]) -> dict[str, object]:
    audio = float(row["audio_seconds"])  # type: ignore[arg-type]
    prompt, completion = int(row["prompt_tokens"]), int(row["completion_tokens"])  # type: ignore[call-overload]
    return {**row, "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "audio_seconds": round(audio, 3), "audio_minutes": round(audio / 60, 4),
            "cost_usd": round(float(row["cost_usd"]), 8)}  # type: ignore[arg-type]


