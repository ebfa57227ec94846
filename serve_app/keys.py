"""API keys: created once, stored only as SHA-256 hashes in SQLite under the data directory.

Keys are 256-bit random secrets, so a fast unsalted hash is the right tool (as for GitHub or Stripe
tokens): a lookup is one indexed query, and the database alone never reveals a usable key.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cachetools import TTLCache

KEY_PREFIX = "sk-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
)
"""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    hint: str
    created_at: int
    revoked_at: int | None = None

    def public(self) -> dict[str, object]:
        """The key as the admin API shows it: never the secret, only a hint of it."""
        return {"id": self.id, "object": "api_key", "name": self.name, "redacted_value": self.hint,
                "created_at": self.created_at, "revoked": self.revoked_at is not None,
                "revoked_at": self.revoked_at}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """The durable table of keys. One connection per process; SQLite's WAL lets replicas share it."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "platform.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SCHEMA)

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is returned here and never again."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(id="key_" + uuid.uuid4().hex[:24], name=name, hint=f"{secret[:6]}...{secret[-4:]}",
                     created_at=int(time.time()))
        self._db.execute(
            "INSERT INTO api_keys (id, name, key_hash, hint, created_at) VALUES (?, ?, ?, ?, ?)",
            (key.id, key.name, hash_secret(secret), key.hint, key.created_at),
        )
        return key, secret

    def find_by_hash(self, digest: str) -> ApiKey | None:
        row = self._db.execute(
            "SELECT id, name, hint, created_at, revoked_at FROM api_keys WHERE key_hash = ?", (digest,)
        ).fetchone()
        return ApiKey(*row) if row else None

    def list(self) -> list[ApiKey]:
        rows = self._db.execute(
            "SELECT id, name, hint, created_at, revoked_at FROM api_keys ORDER BY created_at, id"
        ).fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        self._db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (int(time.time()), key_id)
        )
        row = self._db.execute(
            "SELECT id, name, hint, created_at, revoked_at FROM api_keys WHERE id = ?", (key_id,)
        ).fetchone()
        return ApiKey(*row) if row else None


class KeyCache:
    """Looks keys up through a short-lived cache, so a hot path does not query SQLite per request.

    A revocation reaches every replica within ``ttl_seconds``; the replica that revokes forgets at once.
    """

    def __init__(self, store: KeyStore, ttl_seconds: float) -> None:
        self._store = store
        self._cache: TTLCache[str, ApiKey | None] = TTLCache(maxsize=100_000, ttl=ttl_seconds)

    def lookup(self, secret: str) -> ApiKey | None:
        digest = hash_secret(secret)
        try:
            return self._cache[digest]
        except KeyError:
            key = self._cache[digest] = self._store.find_by_hash(digest)
            return key

    def forget_all(self) -> None:
        self._cache.clear()
