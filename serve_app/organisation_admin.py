"""``/admin/v1/organisations``: operators create and change organisations (contract, sign-in, alerts); an
organisation's administrators read their own and set its budget alerts. ``/admin/v1/me``: who is signed in."""

from __future__ import annotations

import asyncio
import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.errors import NotFoundError, PermissionDeniedError
from serve_app.governance.ledger import Ledger
from serve_app.governance.quotas import Window
from serve_app.governance.windows import window_bounds
from serve_app.http import parse_body
from serve_app.organisations.alert_store import AlertStore
from serve_app.organisations.model import CreateOrganisation, Organisation, OrganisationFields
from serve_app.organisations.store import OrganisationStore
from serve_app.principals import Principal


def budget(organisation: Organisation, ledger: Ledger, alerts: AlertStore, now: float) -> dict[str, object]:
    """The organisation's spend this month against its monthly budget, and the alerts fired this month."""
    month_start, resets_at = window_bounds(Window.MONTH, now)
    spent = ledger.spent_by_organisation(organisation.id, since=month_start)
    cap = organisation.contract.monthly_spend_cap_usd
    month = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m")
    return {"object": "organisation.budget", "organisation_id": organisation.id, "month": month,
            "monthly_budget_usd": cap, "spent_this_month_usd": round(spent, 8),
            "remaining_this_month_usd": None if cap is None else round(max(0.0, cap - spent), 8),
            "used_percent": None if not cap else round(100 * spent / cap, 2), "resets_at": int(resets_at),
            "thresholds_percent": organisation.alerts.thresholds_percent,
            "webhook_configured": organisation.alerts.webhook_url is not None,
            "alerts": [alert.public() for alert in alerts.fired(organisation.id, month)]}


def routes(store: OrganisationStore, auth: Authenticator, ledger: Ledger, alerts: AlertStore) -> list[Route]:
    async def organisation_of(request: Request) -> tuple[Principal, Organisation]:
        principal = await auth.admin(request)
        org_id = request.path_params["organisation_id"]
        request.state.audit_organisation = org_id
        found = await asyncio.to_thread(store.get, org_id) if principal.may_see(org_id) else None
        if found is None:
            raise NotFoundError(f"No organisation with id `{org_id}`.", param="organisation_id",
                                code="organisation_not_found")
        return principal, found

    async def me(request: Request) -> JSONResponse:
        principal = await auth.admin(request)
        organisation = (await asyncio.to_thread(store.get, principal.organisation_id)
                        if principal.organisation_id else None)
        return JSONResponse({"object": "principal", "who": principal.who, "role": principal.role,
                             "organisation_id": principal.organisation_id, "via": principal.via,
                             "organisation": organisation.public() if organisation else None})

    async def list_organisations(request: Request) -> JSONResponse:
        principal = await auth.admin(request)
        found = await asyncio.to_thread(store.all)
        return JSONResponse({"object": "list",
                             "data": [org.public() for org in found if principal.may_see(org.id)]})

    async def create_organisation(request: Request) -> JSONResponse:
        await auth.operator(request)
        body = await parse_body(request, CreateOrganisation)
        created = await asyncio.to_thread(store.create, body)
        request.state.audit_organisation = created.id
        return JSONResponse(created.public())

    async def get_organisation(request: Request) -> JSONResponse:
        _, organisation = await organisation_of(request)
        return JSONResponse(organisation.public())

    async def update_organisation(request: Request) -> JSONResponse:
        principal, organisation = await organisation_of(request)
        body = await parse_body(request, OrganisationFields)
        if not principal.is_operator and body.model_fields_set - {"alerts"}:
            raise PermissionDeniedError("An organisation's administrators may change its budget alerts; its name, "
                                        "contract and sign-in are set by the platform's operator.",
                                        code="operator_role_required")
        updated = await asyncio.to_thread(store.update, organisation.id, body)
        assert updated is not None
        return JSONResponse(updated.public())

    async def get_budget(request: Request) -> JSONResponse:
        _, organisation = await organisation_of(request)
        now = dt.datetime.now(dt.UTC).timestamp()
        return JSONResponse(await asyncio.to_thread(budget, organisation, ledger, alerts, now))

    return [
        Route("/admin/v1/me", me, methods=["GET"]),
        Route("/admin/v1/organisations", list_organisations, methods=["GET"]),
        Route("/admin/v1/organisations", create_organisation, methods=["POST"]),
        Route("/admin/v1/organisations/{organisation_id}", get_organisation, methods=["GET"]),
        Route("/admin/v1/organisations/{organisation_id}", update_organisation, methods=["PATCH"]),
        Route("/admin/v1/organisations/{organisation_id}/budget", get_budget, methods=["GET"]),
    ]
