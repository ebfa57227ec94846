"""API keys: created once, stored only as SHA-256 hashes in the platform's database.

Keys are 256-bit random secrets, so a fast unsalted hash is the right tool (as for GitHub or Stripe
tokens): a lookup is one indexed query, and the database alone never reveals a usable key. A key has a
stable id (its usage history hangs on it); rotating it changes the secret, never the id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field

from cachetools import TTLCache
from sqlalchemy import Boolean, Column, Engine, Index, Integer, String, Table, Text, insert, select, update

from serve_app.database import METADATA
from serve_app.errors import DATABASE_UNREACHABLE, database_unavailable
from serve_app.governance.quotas import Quotas

KEY_PREFIX = "sk-"
DEFAULT_ORGANISATION = "org_default"  # where keys made before organisations existed live
UNREACHABLE_PAUSE_SECONDS = 1.0

API_KEYS = Table(
    "api_keys",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner", String(200)),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("hint", String(32), nullable=False),
    Column("tier", String(64), nullable=False),
    Column("quotas", Text, nullable=False, default="{}"),
    Column("internal", Boolean, nullable=False, default=False),
    Column("created_at", Integer, nullable=False),
    Column("rotated_at", Integer),
    Column("revoked_at", Integer),
    Column("organisation_id", String(64), nullable=False, server_default=DEFAULT_ORGANISATION),
    Index("api_keys_by_organisation", "organisation_id"),
)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    hint: str
    tier: str
    created_at: int
    owner: str | None = None
    quotas: Quotas = field(default_factory=Quotas)
    internal: bool = False
    rotated_at: int | None = None
    revoked_at: int | None = None
    organisation_id: str = DEFAULT_ORGANISATION

    def public(self) -> dict[str, object]:
        """The key as the admin API shows it: never the secret, only a hint of it."""
        return {"id": self.id, "object": "api_key", "name": self.name, "owner": self.owner,
                "redacted_value": self.hint, "tier": self.tier,
                "quotas": self.quotas.model_dump(mode="json", exclude_unset=True),
                "organisation_id": self.organisation_id,
                "internal": self.internal, "created_at": self.created_at, "rotated_at": self.rotated_at,
                "revoked": self.revoked_at is not None, "revoked_at": self.revoked_at}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str, str]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_secret(secret), f"{secret[:6]}...{secret[-4:]}"


def _key(row: object) -> ApiKey:
    data = row._mapping  # type: ignore[attr-defined]
    return ApiKey(id=data["id"], name=data["name"], hint=data["hint"], tier=data["tier"],
                  created_at=data["created_at"], owner=data["owner"],
                  quotas=Quotas.model_validate(json.loads(data["quotas"] or "{}")),
                  internal=bool(data["internal"]), rotated_at=data["rotated_at"], revoked_at=data["revoked_at"],
                  organisation_id=data["organisation_id"])


def _quotas_json(quotas: Quotas) -> str:
    return json.dumps(quotas.model_dump(mode="json", exclude_unset=True), sort_keys=True)


class KeyStore:
    """The durable table of keys, shared by every replica through the platform's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, tier: str, *, owner: str | None = None, quotas: Quotas | None = None,
               internal: bool = False, organisation_id: str = DEFAULT_ORGANISATION) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is returned here and never again."""
        secret, digest, hint = _new_secret()
        key_id = "key_" + uuid.uuid4().hex[:24]
        with self._engine.begin() as db:
            db.execute(insert(API_KEYS).values(
                id=key_id, name=name, owner=owner, key_hash=digest, hint=hint, tier=tier,
                quotas=_quotas_json(quotas or Quotas()), internal=internal, created_at=int(time.time()),
                organisation_id=organisation_id))
        key = self.get(key_id)
        assert key is not None
        return key, secret

    def get(self, key_id: str) -> ApiKey | None:
        with self._engine.connect() as db:
            row = db.execute(select(API_KEYS).where(API_KEYS.c.id == key_id)).first()
        return _key(row) if row else None

    def find_by_hash(self, digest: str) -> ApiKey | None:
        with self._engine.connect() as db:
            row = db.execute(select(API_KEYS).where(API_KEYS.c.key_hash == digest)).first()
        return _key(row) if row else None

    def list(self, *, include_internal: bool = False, organisation_id: str | None = None) -> list[ApiKey]:
        query = select(API_KEYS).order_by(API_KEYS.c.created_at, API_KEYS.c.id)
        if organisation_id is not None:
            query = query.where(API_KEYS.c.organisation_id == organisation_id)
        if not include_internal:
            query = query.where(API_KEYS.c.internal.is_(False))
        with self._engine.connect() as db:
            return [_key(row) for row in db.execute(query)]

    def update(self, key_id: str, *, name: str | None = None, owner: str | None = None, tier: str | None = None,
               quotas: Quotas | None = None) -> ApiKey | None:
        """Changes a key's name, owner, tier or quota overrides (overrides replace the previous ones)."""
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = name
        if owner is not None:
            values["owner"] = owner
        if tier is not None:
            values["tier"] = tier
        if quotas is not None:
            values["quotas"] = _quotas_json(quotas)
        if values:
            with self._engine.begin() as db:
                db.execute(update(API_KEYS).where(API_KEYS.c.id == key_id).values(**values))
        return self.get(key_id)

    def rotate(self, key_id: str) -> tuple[ApiKey, str] | None:
        """A new secret for a live key; the old secret stops working, the id and history stay."""
        secret, digest, hint = _new_secret()
        with self._engine.begin() as db:
            changed = db.execute(
                update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
                .values(key_hash=digest, hint=hint, rotated_at=int(time.time()))
            ).rowcount
        key = self.get(key_id)
        return (key, secret) if changed and key else None

    def revoke(self, key_id: str) -> ApiKey | None:
        with self._engine.begin() as db:
            db.execute(update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
                       .values(revoked_at=int(time.time())))
        return self.get(key_id)

    def issue_internal_key(self, name: str) -> str:
        """The secret of the platform's own identity ``name`` (e.g. the status prober): never billed, never
        counted in quotas. Created on first use, rotated on every later call (only the caller knows it)."""
        with self._engine.connect() as db:
            row = db.execute(select(API_KEYS.c.id).where(API_KEYS.c.internal.is_(True), API_KEYS.c.name == name,
                                                         API_KEYS.c.revoked_at.is_(None))).first()
        if row is not None:
            rotated = self.rotate(row[0])
            if rotated is not None:
                return rotated[1]
        return self.create(name, tier="unlimited", internal=True)[1]


RECENTLY_VALID_SECONDS = 3600.0


class KeyCache:
    """Looks keys up through a short-lived cache, so a hot path does not query the database per request.

    A revocation or a quota change reaches every replica within ``ttl_seconds``; the replica that makes it
    forgets at once.
    """

    def __init__(self, store: KeyStore, ttl_seconds: float) -> None:
        self._store = store
        self._cache: TTLCache[str, ApiKey | None] = TTLCache(maxsize=100_000, ttl=ttl_seconds)
        # Hashes of secrets that were valid keys lately (whatever the cache time): not a credential, only what
        # lets a real key past the failed-authentication throttle of an address it shares with an attacker.
        self._valid: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=RECENTLY_VALID_SECONDS)
        self._unreachable_until = 0.0  # monotonic time: the database failed, do not wait on it again before

    def recently_valid(self, secret: str) -> bool:
        return hash_secret(secret) in self._valid

    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """Whether ``secret`` was looked up in the last ``ttl_seconds``, and what was found (None: unknown)."""
        try:
            return True, self._cache[hash_secret(secret)]
        except KeyError:  # never looked up, or expired
            return False, None

    def lookup(self, secret: str) -> ApiKey | None:
        """The key, or None for an unknown secret. With the database out of reach, a key checked in the last
        ``ttl_seconds`` is still served and any other is a 503 (``database_unavailable``), at once for
        ``UNREACHABLE_PAUSE_SECONDS`` after a failed lookup."""
        digest = hash_secret(secret)
        try:
            return self._cache[digest]
        except KeyError:
            pass
        if time.monotonic() < self._unreachable_until:
            raise database_unavailable("this API key could not be checked")
        try:
            key = self._store.find_by_hash(digest)
        except DATABASE_UNREACHABLE:
            self._unreachable_until = time.monotonic() + UNREACHABLE_PAUSE_SECONDS
            raise database_unavailable("this API key could not be checked") from None
        self._cache[digest] = key
        if key is not None:
            self._valid[digest] = True
        return key

    def forget_all(self) -> None:
        self._cache.clear()
