"""Sign-ins under way: what the callback needs to finish one, kept server-side for ``LIFETIME_SECONDS``.

``state``, ``nonce`` and the PKCE ``code_verifier`` never leave the platform except as the issuer needs them
(``state`` and ``nonce`` in the authorization URL, the verifier only to the token endpoint). A row is found by
the SHA-256 of its ``state`` and deleted by the callback that uses it, so a replayed callback finds nothing.
It is also bound to the browser that started it (the SHA-256 of a random value in a short-lived cookie): a
callback URL pushed to someone else's browser (login CSRF) does not sign them in.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Engine, Float, String, Table, delete, insert, select

from serve_app.database import METADATA

LIFETIME_SECONDS = 10 * 60

CONSOLE_LOGINS = Table(
    "console_logins",
    METADATA,
    Column("state_hash", String(64), primary_key=True),  # sha256 of `state`
    Column("browser_hash", String(64), nullable=False),  # sha256 of the login cookie's value
    Column("organisation_id", String(64)),  # None: an operator's sign-in
    Column("nonce", String(64), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("redirect_uri", String(1000), nullable=False),
    Column("expires_at", Float, nullable=False),
)


@dataclass(frozen=True)
class PendingLogin:
    organisation_id: str | None
    nonce: str
    code_verifier: str
    redirect_uri: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class PendingLogins:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def start(self, organisation_id: str | None, redirect_uri: str) -> tuple[str, str, PendingLogin]:
        """A new sign-in: its ``state``, the browser cookie's value, and what the callback will need."""
        state, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        login = PendingLogin(organisation_id, secrets.token_urlsafe(32), secrets.token_urlsafe(64), redirect_uri)
        now = self._clock()

        def write() -> None:
            with self._engine.begin() as db:
                db.execute(delete(CONSOLE_LOGINS).where(CONSOLE_LOGINS.c.expires_at < now))
                db.execute(insert(CONSOLE_LOGINS).values(
                    state_hash=_hash(state), browser_hash=_hash(browser), organisation_id=organisation_id,
                    nonce=login.nonce, code_verifier=login.code_verifier, redirect_uri=redirect_uri,
                    expires_at=now + LIFETIME_SECONDS))

        await asyncio.to_thread(write)
        return state, browser, login

    async def finish(self, state: str, browser: str | None) -> PendingLogin | None:
        """The sign-in ``state`` names, taken once: None when unknown, already used, expired, or started in
        another browser."""
        return await asyncio.to_thread(self._take, _hash(state), _hash(browser or ""), self._clock())

    def _take(self, state_hash: str, browser_hash: str, now: float) -> PendingLogin | None:
        with self._engine.begin() as db:
            row = db.execute(select(CONSOLE_LOGINS).where(CONSOLE_LOGINS.c.state_hash == state_hash)).first()
            if row is None:
                return None
            taken = db.execute(delete(CONSOLE_LOGINS).where(CONSOLE_LOGINS.c.state_hash == state_hash))
        data = row._mapping
        if taken.rowcount != 1 or data["expires_at"] <= now or \
                not hmac.compare_digest(data["browser_hash"], browser_hash):
            return None  # another callback took it first, or it is stale, or another browser's
        return PendingLogin(data["organisation_id"], data["nonce"], data["code_verifier"], data["redirect_uri"])
