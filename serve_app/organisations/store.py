"""The organisations table, shared by every replica through the platform's database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from typing import Any

from cachetools import TTLCache
from pydantic import ValidationError
from sqlalchemy import Column, Engine, Integer, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from serve_app.database import METADATA
from serve_app.errors import DATABASE_UNREACHABLE, ConflictError, database_unavailable
from serve_app.governance.quotas import Quotas
from serve_app.organisations.model import (
    DEFAULT_ORGANISATION,
    BudgetAlerts,
    CreateOrganisation,
    Organisation,
    OrganisationFields,
    SingleSignOn,
)

ORGANISATIONS = Table(
    "organisations",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tier", String(64)),
    Column("contract", Text, nullable=False, default="{}"),
    Column("sso", Text),  # JSON, with the client secret if any (the database is the platform's own)
    Column("alerts", Text, nullable=False, default="{}"),
    Column("created_at", Integer, nullable=False),
)
CACHE_SECONDS = 5.0
LOGGER = logging.getLogger(__name__)


def _organisation(row: Any) -> Organisation:
    data = row._mapping
    return Organisation(id=data["id"], name=data["name"], tier=data["tier"],
                        contract=json.loads(data["contract"] or "{}"),
                        sso=SingleSignOn.model_validate_json(data["sso"]) if data["sso"] else None,
                        alerts=_alerts(data["id"], data["alerts"]), created_at=data["created_at"])


def _alerts(org_id: str, stored: str | None) -> BudgetAlerts:
    """The stored alerts; ones an earlier version let in that no longer validate are read as the defaults (logged),
    so that one row never makes organisations unreadable."""
    try:
        return BudgetAlerts.model_validate_json(stored or "{}")
    except ValidationError:
        LOGGER.error("organisation %s: its stored budget alerts do not validate; the defaults apply", org_id[:64])
        return BudgetAlerts()


def _columns(fields: OrganisationFields, current: Organisation | None = None) -> dict[str, object]:
    values: dict[str, object] = {}
    if fields.name is not None:
        values["name"] = fields.name
    if "tier" in fields.model_fields_set:
        values["tier"] = fields.tier
    if fields.contract is not None:
        values["contract"] = json.dumps(fields.contract.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    if "sso" in fields.model_fields_set:
        sso = fields.sso
        if sso is not None and sso.client_secret is None and current is not None and current.sso is not None:
            sso = sso.model_copy(update={"client_secret": current.sso.client_secret})  # kept unless replaced
        values["sso"] = sso.model_dump_json() if sso is not None else None
    if fields.alerts is not None:
        values["alerts"] = fields.alerts.model_dump_json()
    return values


class OrganisationStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache: TTLCache[str, Organisation | None] = TTLCache(maxsize=10_000, ttl=CACHE_SECONDS)

    def create(self, fields: CreateOrganisation) -> Organisation:
        org_id = fields.id or "org_" + secrets.token_hex(8)
        values = {"contract": "{}", "alerts": BudgetAlerts().model_dump_json(), **_columns(fields)}
        try:
            with self._engine.begin() as db:
                db.execute(insert(ORGANISATIONS).values(id=org_id, created_at=int(time.time()), **values))
        except IntegrityError:
            raise ConflictError(f"An organisation with id `{org_id}` already exists.", param="id",
                                code="organisation_exists") from None
        found = self.get(org_id)
        assert found is not None
        return found

    def get(self, org_id: str) -> Organisation | None:
        with self._engine.connect() as db:
            row = db.execute(select(ORGANISATIONS).where(ORGANISATIONS.c.id == org_id)).first()
        return _organisation(row) if row else None

    async def cached(self, org_id: str) -> Organisation | None:
        """The organisation as read in the last ``CACHE_SECONDS`` (admission's path: no query per request; a
        change reaches every replica within that time). Read off the event loop when not cached."""
        try:
            return self._cache[org_id]
        except KeyError:
            pass
        try:
            found = await asyncio.to_thread(self.get, org_id)
        except DATABASE_UNREACHABLE:
            raise database_unavailable("your organisation's contract could not be read") from None
        self._cache[org_id] = found
        return found

    async def contract(self, organisation_id: str) -> Quotas | None:
        """The organisation's contract, if it sets anything (admission adds its limits to the key's)."""
        found = await self.cached(organisation_id)
        return found.contract if found is not None and found.contract.model_fields_set else None

    def all(self) -> list[Organisation]:
        with self._engine.connect() as db:
            rows = db.execute(select(ORGANISATIONS).order_by(ORGANISATIONS.c.created_at, ORGANISATIONS.c.id))
            return [_organisation(row) for row in rows]

    def by_issuer(self, issuer: str) -> list[Organisation]:
        """The organisations whose administrators sign in at ``issuer``."""
        issuer = issuer.rstrip("/")
        return [org for org in self.all() if org.sso is not None and org.sso.issuer == issuer]

    def update(self, org_id: str, fields: OrganisationFields) -> Organisation | None:
        current = self.get(org_id)
        if current is None:
            return None
        values = _columns(fields, current)
        if values:
            with self._engine.begin() as db:
                db.execute(update(ORGANISATIONS).where(ORGANISATIONS.c.id == org_id).values(**values))
        return self.get(org_id)

    def ensure_default(self) -> None:
        """The default organisation exists (the migration creates it; a database made by ``create_all`` in
        tests gets it here)."""
        if self.get(DEFAULT_ORGANISATION) is None:
            with contextlib.suppress(ConflictError):
                self.create(CreateOrganisation(id=DEFAULT_ORGANISATION, name="Default organisation"))
