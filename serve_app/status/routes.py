"""``GET /status`` (HTML) and ``GET /status.json``, public; the admin API for incidents and maintenance.

A status page is most visited when something is wrong, so each replica keeps the document for a couple
of seconds: a crowd refreshing the page costs one database read per replica and period.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cachetools import TTLCache
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.errors import InvalidRequestError, NotFoundError
from serve_app.http import parse_body
from serve_app.status.incidents import Incident
from serve_app.status.page import StatusPage
from serve_app.status.protocol import CreateIncidentUpdateRequest, CreateMaintenanceRequest, UpdateIncidentRequest
from serve_app.status.report import MAINTENANCE_SHOWN_DAYS, StatusReport

CACHE_SECONDS = 2.0
NO_STORE = {"Cache-Control": "no-store"}


def routes(report: StatusReport, auth: Authenticator) -> list[Route]:
    page = StatusPage()
    cache: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=1, ttl=CACHE_SECONDS)

    async def document() -> dict[str, Any]:
        try:
            return cache["status"]
        except KeyError:
            built = cache["status"] = await asyncio.to_thread(report.build, time.time())
            return built

    async def status_page(request: Request) -> HTMLResponse:
        return HTMLResponse(page.render(await document()), headers=NO_STORE)

    async def status_json(request: Request) -> JSONResponse:
        return JSONResponse(await document(), headers=NO_STORE)

    def incident_found(incident_id: str, incident: Incident | None) -> JSONResponse:
        if incident is None:
            raise NotFoundError(f"No incident with id `{incident_id}`.", param="incident_id",
                                code="incident_not_found")
        cache.clear()
        return JSONResponse(incident.public())

    async def update_incident(request: Request) -> JSONResponse:
        await auth.operator(request)
        incident_id = request.path_params["incident_id"]
        body = await parse_body(request, UpdateIncidentRequest)
        return incident_found(incident_id, report.incidents.set_title(incident_id, body.title))

    async def add_incident_update(request: Request) -> JSONResponse:
        await auth.operator(request)
        incident_id = request.path_params["incident_id"]
        body = await parse_body(request, CreateIncidentUpdateRequest)
        return incident_found(incident_id, report.incidents.add_update(incident_id, body.status, body.message,
                                                                       time.time()))

    async def create_maintenance(request: Request) -> JSONResponse:
        await auth.operator(request)
        body = await parse_body(request, CreateMaintenanceRequest)
        now = time.time()
        unknown = sorted(set(body.models) - set(report.served()))
        if unknown:
            raise InvalidRequestError(f"Unknown model(s): {', '.join(unknown)}.", param="models", code="invalid_value")
        if body.ends_at_unix <= now:
            raise InvalidRequestError("`ends_at` is in the past.", param="ends_at", code="invalid_value")
        window = report.maintenance.create(body.title, sorted(set(body.models)), body.starts_at_unix,
                                           body.ends_at_unix, now)
        cache.clear()
        return JSONResponse({"object": "maintenance_window", **window.public(now)})

    async def list_maintenance(request: Request) -> JSONResponse:
        await auth.operator(request)
        now = time.time()
        windows = report.maintenance.ending_after(now - MAINTENANCE_SHOWN_DAYS * 86_400)
        return JSONResponse({"object": "list", "data": [{"object": "maintenance_window", **w.public(now)}
                                                         for w in windows]})

    async def end_maintenance(request: Request) -> JSONResponse:
        await auth.operator(request)
        window_id = request.path_params["window_id"]
        if not report.maintenance.end(window_id, time.time()):
            raise NotFoundError(f"No maintenance window with id `{window_id}`.", param="window_id",
                                code="maintenance_not_found")
        cache.clear()
        return JSONResponse({"id": window_id, "object": "maintenance_window.deleted", "deleted": True})

    return [
        Route("/status", status_page, methods=["GET"]),
        Route("/status.json", status_json, methods=["GET"]),
        Route("/admin/v1/incidents/{incident_id}", update_incident, methods=["PATCH"]),
        Route("/admin/v1/incidents/{incident_id}/updates", add_incident_update, methods=["POST"]),
        Route("/admin/v1/maintenance", create_maintenance, methods=["POST"]),
        Route("/admin/v1/maintenance", list_maintenance, methods=["GET"]),
        Route("/admin/v1/maintenance/{window_id}", end_maintenance, methods=["DELETE"]),
    ]
