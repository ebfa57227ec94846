"""Usage the ledger's database cannot take now (PostgreSQL stopped, restarting or unreachable), kept durably
until it can.

The metering actor writes such records to a SQLite file of its own under ``LLMAAS_DATA_DIR`` on its node
(the same table as the ledger's, idempotent by request id), counts them against the keys' limits as any
other, and acknowledges them to the ingress: nothing waits in a replica's memory for the database. Every
``DRAIN_RETRY_SECONDS`` while it holds records, the actor moves them to the ledger, oldest first; the
ledger ignores request ids it already holds, so a move interrupted half-way counts nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from serve_app.database import sqlite_file
from serve_app.governance.ledger import Ledger, create_spool_table
from serve_app.governance.records import UsageRecord

LOGGER = logging.getLogger(__name__)
DRAIN_RETRY_SECONDS = 5.0
DRAIN_BATCH = 500


class Spool:
    def __init__(self, path: Path) -> None:
        engine = sqlite_file(path)
        create_spool_table(engine)
        self._store = Ledger(engine)
        self.held = self._store.count()  # records not moved to the ledger yet (left by an earlier incarnation)

    @property
    def store(self) -> Ledger:
        """The spool's own table, read like a ledger (what a restarted actor counts)."""
        return self._store

    def keep(self, records: Sequence[UsageRecord]) -> list[UsageRecord]:
        """Stores the records it does not hold yet; returns those."""
        new = self._store.write(records)
        if new and not self.held:
            LOGGER.warning("the ledger's database cannot be reached: usage records are spooled until it can")
        self.held += len(new)
        return new

    def drain_into(self, ledger: Ledger) -> bool:
        """Moves what it holds into ``ledger``, oldest first; False when the ledger's database still fails."""
        if not self.held:
            return True
        while self.held:
            batch = self._store.oldest(DRAIN_BATCH)
            if not batch:
                self.held = 0
                break
            try:
                ledger.write(batch)
            except SQLAlchemyError:
                return False
            self._store.delete([record.request_id for record in batch])
            self.held = self._store.count()
        LOGGER.warning("the ledger's database is back: the spooled usage records were moved to it")
        return True
