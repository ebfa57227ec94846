"""The database out of reach: a key that must be looked up, and any call that needs the database, is a clear 503
(README, "When the database is down"); a key checked moments ago is still served."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from serve_app.errors import ServiceUnavailableError, to_api_error
from serve_app.keys import ApiKey, KeyCache, hash_secret


class FlakyStore:
    """A key store whose database goes away when told to, counting the lookups that reached it."""

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.down = False
        self.lookups = 0

    def find_by_hash(self, digest: str) -> ApiKey | None:
        self.lookups += 1
        if self.down:
            raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))
        return self.key if digest == hash_secret("sk-known") else None


def test_a_key_looked_up_while_the_database_is_down_is_a_503_and_a_cached_one_is_served() -> None:
    store = FlakyStore(ApiKey(id="k1", name="n", hint="sk-...own", tier="free", created_at=0))
    cache = KeyCache(store, ttl_seconds=60)  # type: ignore[arg-type]
    assert cache.lookup("sk-known") == store.key
    store.down = True
    assert cache.lookup("sk-known") == store.key  # checked moments ago
    for _ in range(3):
        try:
            cache.lookup("sk-other")
        except ServiceUnavailableError as refused:
            assert refused.code == "database_unavailable"
            assert refused.headers["retry-after"] == "5"
        else:
            raise AssertionError("a key that cannot be checked was let in")
    assert store.lookups == 2  # after a failure, the next lookups do not wait on the database again


def test_a_database_error_anywhere_is_a_503_not_a_500() -> None:
    error = to_api_error(OperationalError("SELECT", {}, ConnectionRefusedError()), "req_1")
    assert (error.status_code, error.error_type, error.code) == (503, "service_unavailable", "database_unavailable")
    assert "nothing was billed" in error.message

