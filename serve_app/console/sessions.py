"""Server-side console sessions, in the platform's database so that every ingress replica sees them.

The browser holds only a random value in an HttpOnly cookie; the database holds its SHA-256, so a copy of the
table cannot be replayed as cookies. A session ends after ``IDLE_SECONDS`` without use or ``LIFETIME_SECONDS``
after sign-in, whichever comes first, and at sign-out (its row is deleted). Each session has a CSRF token that
every request that changes something must echo in ``x-csrf-token``: a cross-site form cannot read it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Engine, Float, String, Table, delete, insert, select, update
from starlette.requests import Request
from starlette.responses import Response

from serve_app.database import METADATA
from serve_app.errors import AuthenticationError, PermissionDeniedError
from serve_app.principals import Principal

COOKIE = "llmaas_console"
CSRF_HEADER = "x-csrf-token"
IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 12 * 3600
TOUCH_SECONDS = 30  # last use is written at most this often (a page polls every 5 s)
SAFE_METHODS = frozenset({"GET", "HEAD"})

CONSOLE_SESSIONS = Table(
    "console_sessions",
    METADATA,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie's value
    Column("role", String(32), nullable=False),
    Column("organisation_id", String(64)),
    Column("who", String(200), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),  # absolute end: created_at + LIFETIME_SECONDS
    Column("last_seen_at", Float, nullable=False),
)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str
    expires_at: float  # whichever end comes first: idle or absolute

    def public(self) -> dict[str, object]:
        return {"role": self.principal.role, "organisation_id": self.principal.organisation_id,
                "who": self.principal.who, "csrf_token": self.csrf_token, "expires_at": int(self.expires_at)}


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def is_https(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly, or through a proxy that says so)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def expired() -> AuthenticationError:
    return AuthenticationError("Your console session has ended; please sign in again.", code="session_expired")


class ConsoleSessions:
    """Implements :class:`serve_app.principals.SessionAuthority` for the admin API."""

    def __init__(self, engine: Engine, *, idle_seconds: float = IDLE_SECONDS,
                 lifetime_seconds: float = LIFETIME_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._idle = idle_seconds
        self._lifetime = lifetime_seconds
        self._clock = clock

    async def create(self, principal: Principal) -> tuple[str, Session]:
        """A new session: the cookie's value (to set, never to log) and the session."""
        value, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock()
        row = {"id_hash": _hash(value), "role": principal.role, "organisation_id": principal.organisation_id,
               "who": principal.who[:200], "csrf_token": csrf, "created_at": now, "expires_at": now + self._lifetime,
               "last_seen_at": now}

        def write() -> None:
            with self._engine.begin() as db:
                db.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.expires_at < now))
                db.execute(insert(CONSOLE_SESSIONS).values(**row))

        await asyncio.to_thread(write)
        return value, Session(principal, csrf, min(now + self._lifetime, now + self._idle))

    async def session(self, request: Request) -> Session | None:
        """The request's live session; None without a cookie; 401 ``session_expired`` for an ended or unknown
        one (its row is deleted)."""
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        found = await asyncio.to_thread(self._touch, _hash(value), self._clock())
        if found is None:
            raise expired()
        return found

    async def principal(self, request: Request) -> Principal | None:
        """The principal of the session cookie, for the admin API; 403 ``csrf_token_invalid`` when a request
        that changes something does not carry the session's CSRF token."""
        found = await self.session(request)
        if found is None:
            return None
        if request.method not in SAFE_METHODS:
            check_csrf(found, request.headers.get(CSRF_HEADER))
        return found.principal

    async def delete(self, request: Request) -> None:
        value = request.cookies.get(COOKIE)
        if value:
            await asyncio.to_thread(self._delete, _hash(value))

    def _delete(self, id_hash: str) -> None:
        with self._engine.begin() as db:
            db.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id_hash == id_hash))

    def _touch(self, id_hash: str, now: float) -> Session | None:
        with self._engine.begin() as db:
            row = db.execute(select(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id_hash == id_hash)).first()
            if row is None:
                return None
            data = row._mapping
            if now >= data["expires_at"] or now - data["last_seen_at"] >= self._idle:
                db.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id_hash == id_hash))
                return None
            last_seen = data["last_seen_at"]
            if now - last_seen >= TOUCH_SECONDS:
                last_seen = now
                db.execute(update(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id_hash == id_hash)
                           .values(last_seen_at=now))
        principal = Principal(who=data["who"], role=data["role"], organisation_id=data["organisation_id"],
                              via="session")
        return Session(principal, data["csrf_token"], min(data["expires_at"], last_seen + self._idle))


def check_csrf(session: Session, given: str | None) -> None:
    if not given or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
        raise PermissionDeniedError("This action needs the console's security token (x-csrf-token); reload the "
                                    "console and try again.", code="csrf_token_invalid")


def set_cookie(response: Response, value: str, request: Request) -> None:
    response.set_cookie(COOKIE, value, max_age=LIFETIME_SECONDS, path="/", secure=is_https(request), httponly=True,
                        samesite="strict")


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", secure=is_https(request), httponly=True, samesite="strict")
