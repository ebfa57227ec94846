"""The admin API: ``/admin/v1/keys`` to create, list, update, rotate and revoke API keys. Operators reach every
organisation's keys; an organisation's administrators only their own (another organisation's key is a 404),
with quotas within their contract, and no tier of their choosing."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from serve_app.governance.quotas import LIMIT_FIELDS, Quotas, TierConfig
from serve_app.http import parse_body
from serve_app.keys import ApiKey, KeyCache, KeyStore
from serve_app.organisations.model import DEFAULT_ORGANISATION, Organisation
from serve_app.organisations.store import OrganisationStore
from serve_app.principals import Principal


class UpdateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation: str | None = Field(default=None, description="The organisation the key belongs to (operators; "
                                     "an organisation's administrators create keys in their own).")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    owner: str | None = Field(default=None, max_length=200, description="The application owner the key belongs to.")
    tier: str | None = Field(default=None, description="A tier of the tiers file (default: its default_tier).")
    quotas: Quotas | None = Field(
        default=None, description="Overrides of the tier's limits (a custom contract); replaces earlier overrides."
    )


class CreateKeyRequest(UpdateKeyRequest):
    name: str = Field(min_length=1, max_length=200)


def routes(store: KeyStore, cache: KeyCache, auth: Authenticator, tiers: TierConfig,
           organisations: OrganisationStore) -> list[Route]:
    def shown(key: ApiKey) -> dict[str, object]:
        limits = tiers.effective_quotas(key.tier, key.quotas)
        return {**key.public(), "limits": limits.model_dump(mode="json")}

    def checked_tier(tier: str | None, principal: Principal) -> str | None:
        if tier is not None and not principal.is_operator:
            raise PermissionDeniedError("A key's tier is part of the contract the operator sets; set its quotas "
                                        "within the organisation's contract instead.", param="tier",
                                        code="operator_role_required")
        if tier is not None and tier not in tiers.tiers:
            raise InvalidRequestError(f"Unknown tier `{tier}`; the tiers are: {', '.join(sorted(tiers.tiers))}.",
                                      param="tier", code="invalid_value")
        return tier

    def found(key_id: str, key: ApiKey | None, principal: Principal) -> ApiKey:
        if key is None or key.internal or not principal.may_see(key.organisation_id):
            raise NotFoundError(f"No API key with id `{key_id}`.", param="key_id", code="key_not_found")
        return key

    def organisation_of(principal: Principal, requested: str | None) -> Organisation:
        org_id = principal.scope(requested) or DEFAULT_ORGANISATION
        organisation = organisations.get(org_id)
        if organisation is None:
            raise NotFoundError(f"No organisation with id `{org_id}`.", param="organisation",
                                code="organisation_not_found")
        return organisation

    async def key_of(request: Request) -> tuple[Principal, ApiKey]:
        principal = await auth.admin(request)
        key_id = request.path_params["key_id"]
        key = found(key_id, await asyncio.to_thread(store.get, key_id), principal)
        request.state.audit_organisation = key.organisation_id
        return principal, key

    async def create_key(request: Request) -> JSONResponse:
        principal = await auth.admin(request)
        body = await parse_body(request, CreateKeyRequest)
        organisation = await asyncio.to_thread(organisation_of, principal, body.organisation)
        request.state.audit_organisation = organisation.id
        quotas = body.quotas or Quotas()
        check_within_contract(quotas, organisation.contract)
        tier = checked_tier(body.tier, principal) or organisation.tier or tiers.default_tier
        key, secret = await asyncio.to_thread(store.create, body.name, tier, owner=body.owner, quotas=quotas,
                                              organisation_id=organisation.id)
        return JSONResponse({**shown(key), "key": secret})

    async def list_keys(request: Request) -> JSONResponse:
        principal = await auth.admin(request)
        scope = principal.scope(request.query_params.get("organisation"))
        keys = await asyncio.to_thread(store.list, organisation_id=scope)
        return JSONResponse({"object": "list", "data": [shown(key) for key in keys]})

    async def get_key(request: Request) -> JSONResponse:
        _, key = await key_of(request)
        return JSONResponse(shown(key))

    async def update_key(request: Request) -> JSONResponse:
        principal, key = await key_of(request)
        body = await parse_body(request, UpdateKeyRequest)
        if body.organisation is not None and body.organisation != key.organisation_id:
            raise InvalidRequestError("A key stays in its organisation: create a key in the other one instead.",
                                      param="organisation", code="invalid_value")
        if body.quotas is not None:
            organisation = await asyncio.to_thread(organisations.get, key.organisation_id)
            check_within_contract(body.quotas, organisation.contract if organisation else Quotas())
        updated = await asyncio.to_thread(store.update, key.id, name=body.name, owner=body.owner,
                                          tier=checked_tier(body.tier, principal), quotas=body.quotas)
        cache.forget_all()
        return JSONResponse(shown(found(key.id, updated, principal)))

    async def rotate_key(request: Request) -> JSONResponse:
        _, key = await key_of(request)
        rotated = await asyncio.to_thread(store.rotate, key.id)
        if rotated is None:
            raise InvalidRequestError("A revoked key cannot be rotated.", param="key_id", code="key_revoked")
        cache.forget_all()
        new_key, secret = rotated
        return JSONResponse({**shown(new_key), "key": secret})

    async def revoke_key(request: Request) -> JSONResponse:
        _, key = await key_of(request)
        await asyncio.to_thread(store.revoke, key.id)
        cache.forget_all()
        return JSONResponse({"id": key.id, "object": "api_key.deleted", "deleted": True})

    return [
        Route("/admin/v1/keys", create_key, methods=["POST"]),
        Route("/admin/v1/keys", list_keys, methods=["GET"]),
        Route("/admin/v1/keys/{key_id}", get_key, methods=["GET"]),
        Route("/admin/v1/keys/{key_id}", update_key, methods=["POST", "PATCH"]),
        Route("/admin/v1/keys/{key_id}/rotate", rotate_key, methods=["POST"]),
        Route("/admin/v1/keys/{key_id}", revoke_key, methods=["DELETE"]),
    ]


def check_within_contract(quotas: Quotas, contract: Quotas) -> None:
    """400 unless a key's own quotas stay within its organisation's contract: no limit above the contract's, and
    only models the contract allows. (A limit the key leaves to its tier is bounded by the contract's
    organisation-wide limit in admission all the same.)"""
    for name in LIMIT_FIELDS | {"max_tokens_per_request": None, "max_concurrent_streams": None}:
        ceiling, value = getattr(contract, name), getattr(quotas, name)
        if ceiling is not None and value is not None and value > ceiling:
            raise InvalidRequestError(f"Invalid 'quotas.{name}': {value} is above your organisation's contract "
                                      f"({ceiling}). Choose at most {ceiling}.", param=f"quotas.{name}",
                                      code="above_contract")
    if contract.allowed_models is not None and quotas.allowed_models is not None:
        outside = sorted(quotas.allowed_models - contract.allowed_models)
        if outside:
            raise InvalidRequestError(f"Invalid 'quotas.allowed_models': {', '.join(outside)} not in your "
                                      "organisation's contract.", param="quotas.allowed_models",
                                      code="above_contract")
