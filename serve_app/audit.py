"""The audit log of admin actions: who did what, when, from where, and on what; never a secret or user text.

Every ``/admin/`` route that changes something (any method but GET) is wrapped: once it has answered with
success, one entry is written with the admin's identity (``Authenticator.admin``), the method and route
template, the ids it acted on (path parameters, and the ``id`` of what it returned), the organisation acted on
and the client's address. An organisation's administrators see their organisation's entries; operators all.
Request and response bodies are not kept: a key's secret and an incident's text never reach the log.
``GET /admin/v1/audit`` lists the entries, newest first.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Column, Engine, Float, Index, String, Table, insert, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from serve_app.auth import Authenticator
from serve_app.database import METADATA
from serve_app.errors import InvalidRequestError
from serve_app.http import limit_param
from serve_app.principals import Principal

AUDIT = Table(
    "admin_audit_log",
    METADATA,
    Column("id", String(40), primary_key=True),
    Column("at", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(120), nullable=False),  # "DELETE /admin/v1/keys/{key_id}"
    Column("target", String(200)),
    Column("address", String(64)),
    Column("organisation_id", String(64)),  # the organisation acted on, for its administrators' view
    Index("admin_audit_log_by_time", "at"),
)
Endpoint = Callable[[Request], Awaitable[Response]]


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, actor: str, action: str, target: str | None, address: str | None,
               organisation_id: str | None = None) -> None:
        with self._engine.begin() as db:
            db.execute(insert(AUDIT).values(id="audit_" + secrets.token_hex(12), at=time.time(), actor=actor,
                                            action=action, target=target, address=address,
                                            organisation_id=organisation_id))

    def entries(self, limit: int, before: float | None, organisation_id: str | None = None) -> list[dict[str, Any]]:
        query = select(AUDIT).order_by(AUDIT.c.at.desc()).limit(limit)
        if organisation_id is not None:
            query = query.where(AUDIT.c.organisation_id == organisation_id)
        if before is not None:
            query = query.where(AUDIT.c.at < before)
        with self._engine.connect() as db:
            return [{"object": "audit_log_entry", **row._mapping} for row in db.execute(query)]


def audited(routes: Sequence[BaseRoute], log: AuditLog) -> list[BaseRoute]:
    """The routes, with every admin route that changes something writing an entry once it has succeeded."""
    return [_audited(route, log) if isinstance(route, Route) and _changes_admin_state(route) else route
            for route in routes]


def _changes_admin_state(route: Route) -> bool:
    return route.path.startswith("/admin/") and bool((route.methods or set()) - {"GET", "HEAD"})


def _audited(route: Route, log: AuditLog) -> Route:
    endpoint: Endpoint = route.endpoint
    methods = sorted((route.methods or set()) - {"HEAD"})

    async def with_audit(request: Request) -> Response:
        response = await endpoint(request)
        if response.status_code < 300:
            target = ",".join(str(value) for value in request.path_params.values()) or _returned_id(response)
            principal: Principal | None = getattr(request.state, "principal", None)
            organisation = getattr(request.state, "audit_organisation", None) or (
                principal.organisation_id if principal else None)
            await asyncio.to_thread(log.record, principal.who if principal else "unknown",
                                    f"{request.method} {route.path}", target,
                                    request.client.host if request.client else None, organisation)
        return response

    return Route(route.path, with_audit, methods=methods, name=route.name)


def _returned_id(response: Response) -> str | None:
    try:
        value = json.loads(bytes(response.body)).get("id")
    except (ValueError, AttributeError):
        return None
    return str(value)[:200] if value is not None else None


def routes(log: AuditLog, auth: Authenticator) -> list[Route]:
    async def list_entries(request: Request) -> JSONResponse:
        principal = await auth.admin(request)
        scope = principal.scope(request.query_params.get("organisation"))
        limit = limit_param(request.query_params.get("limit"), 1000)
        before = request.query_params.get("before")
        try:
            until = float(before) if before is not None else None
        except ValueError:
            raise InvalidRequestError("'before' must be a UNIX time.", param="before", code="invalid_value") from None
        entries = await asyncio.to_thread(log.entries, limit, until, scope)
        return JSONResponse({"object": "list", "data": entries})

    return [Route("/admin/v1/audit", list_entries, methods=["GET"])]
