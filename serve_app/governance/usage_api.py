"""``GET /v1/usage`` (the caller's own key) and ``GET /admin/v1/usage`` (every key, JSON or CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.errors import InvalidRequestError
from serve_app.governance.ledger import GROUPS, Ledger, UsageQuery
from serve_app.governance.quotas import TierConfig, Window
from serve_app.governance.windows import window_bounds

TOTAL_FIELDS = ("requests", "prompt_tokens", "completion_tokens", "total_tokens", "audio_seconds", "audio_minutes",
                "cost_usd")


def _date(request: Request, name: str, default: dt.date) -> dt.date:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(f"Invalid value for '{name}': expected a date as YYYY-MM-DD.", param=name,
                                  code="invalid_value") from None


def _period(request: Request) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    start = _date(request, "start_date", today.replace(day=1))
    end = _date(request, "end_date", today)
    if end < start:
        raise InvalidRequestError("'end_date' is before 'start_date'.", param="end_date", code="invalid_value")
    return start, end


def _totals(rows: list[dict[str, object]]) -> dict[str, object]:
    return rows[0] if rows else {name: 0 for name in TOTAL_FIELDS}


def routes(ledger: Ledger, auth: Authenticator, tiers: TierConfig) -> list[Route]:
    async def own_usage(request: Request) -> JSONResponse:
        key = await auth.api_key(request)
        start, end = _period(request)

        def summary(*group_by: str) -> list[dict[str, object]]:
            return ledger.summary(UsageQuery(key_id=key.id, start=start, end=end, group_by=group_by))

        quotas = tiers.effective_quotas(key.tier, key.quotas)
        tier = tiers.tier(key.tier)
        month_start, _ = window_bounds(Window.MONTH, dt.datetime.now(dt.UTC).timestamp())
        spent_month = ledger.spent(key.id, since=month_start)
        spent_ever = ledger.spent(key.id)
        cap = quotas.monthly_spend_cap_usd
        return JSONResponse({
            "object": "usage",
            "key_id": key.id,
            "tier": key.tier,
            "period": {"start_date": start.isoformat(), "end_date": end.isoformat()},
            "totals": _totals(summary()),
            "by_model": summary("model"),
            "by_day": summary("day"),
            "budget": {
                "monthly_spend_cap_usd": cap,
                "spent_this_month_usd": round(spent_month, 8),
                "remaining_this_month_usd": None if cap is None else round(max(0.0, cap - spent_month), 8),
                "upfront_credit_usd": tier.upfront_credit_usd,
                "credit_remaining_usd": round(max(0.0, tier.upfront_credit_usd - spent_ever), 8),
            },
            "limits": quotas.model_dump(mode="json"),
        })

    async def all_usage(request: Request) -> Response:
        principal = await auth.admin(request)
        organisation = principal.scope(request.query_params.get("organisation"))
        start, end = _period(request)
        group_by = tuple(part for part in request.query_params.get("group_by", "key_id,model").split(",") if part)
        unknown = [part for part in group_by if part not in GROUPS]
        if unknown:
            raise InvalidRequestError(f"Invalid value for 'group_by': {', '.join(unknown)}; use any of "
                                      f"{', '.join(GROUPS)}.", param="group_by", code="invalid_value")
        if request.query_params.get("format", "json") not in ("json", "csv"):
            raise InvalidRequestError("Invalid value for 'format': use json or csv.", param="format",
                                      code="invalid_value")
        query = UsageQuery(key_id=request.query_params.get("key_id"), model=request.query_params.get("model"),
                           organisation_id=organisation, start=start, end=end, group_by=group_by)
        rows = ledger.summary(query)
        if request.query_params.get("format") == "csv" or "text/csv" in request.headers.get("accept", ""):
            return _csv(rows, [*group_by, *TOTAL_FIELDS])
        totals = ledger.summary(UsageQuery(key_id=query.key_id, model=query.model, organisation_id=organisation,
                                           start=start, end=end))
        return JSONResponse({"object": "list", "period": {"start_date": start.isoformat(), "end_date": end.isoformat()},
                             "group_by": list(group_by), "data": rows, "totals": _totals(totals)})

    return [
        Route("/v1/usage", own_usage, methods=["GET"]),
        Route("/admin/v1/usage", all_usage, methods=["GET"]),
    ]


def _csv(rows: list[dict[str, object]], columns: list[str]) -> Response:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"content-disposition": 'attachment; filename="usage.csv"'})
