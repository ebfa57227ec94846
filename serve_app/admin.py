"""The admin API: ``/admin/v1/keys`` to create, list, update, rotate and revoke API keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.errors import InvalidRequestError, NotFoundError
from serve_app.governance.quotas import Quotas, TierConfig
from serve_app.http import parse_body
from serve_app.keys import ApiKey, KeyCache, KeyStore


class UpdateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    owner: str | None = Field(default=None, max_length=200, description="The application owner the key belongs to.")
    tier: str | None = Field(default=None, description="A tier of the tiers file (default: its default_tier).")
    quotas: Quotas | None = Field(
        default=None, description="Overrides of the tier's limits (a custom contract); replaces earlier overrides."
    )


class CreateKeyRequest(UpdateKeyRequest):
    name: str = Field(min_length=1, max_length=200)


def routes(store: KeyStore, cache: KeyCache, auth: Authenticator, tiers: TierConfig) -> list[Route]:
    def shown(key: ApiKey) -> dict[str, object]:
        limits = tiers.effective_quotas(key.tier, key.quotas)
        return {**key.public(), "limits": limits.model_dump(mode="json")}

    def checked_tier(tier: str | None) -> str | None:
        if tier is not None and tier not in tiers.tiers:
            raise InvalidRequestError(f"Unknown tier `{tier}`; the tiers are: {', '.join(sorted(tiers.tiers))}.",
                                      param="tier", code="invalid_value")
        return tier

    def found(key_id: str, key: ApiKey | None) -> ApiKey:
        if key is None or key.internal:
            raise NotFoundError(f"No API key with id `{key_id}`.", param="key_id", code="key_not_found")
        return key

    async def create_key(request: Request) -> JSONResponse:
        await auth.admin(request)
        body = await parse_body(request, CreateKeyRequest)
        key, secret = store.create(body.name, checked_tier(body.tier) or tiers.default_tier, owner=body.owner,
                                   quotas=body.quotas)
        return JSONResponse({**shown(key), "key": secret})

    async def list_keys(request: Request) -> JSONResponse:
        await auth.admin(request)
        return JSONResponse({"object": "list", "data": [shown(key) for key in store.list()]})

    async def get_key(request: Request) -> JSONResponse:
        await auth.admin(request)
        key_id = request.path_params["key_id"]
        return JSONResponse(shown(found(key_id, store.get(key_id))))

    async def update_key(request: Request) -> JSONResponse:
        await auth.admin(request)
        key_id = request.path_params["key_id"]
        found(key_id, store.get(key_id))
        body = await parse_body(request, UpdateKeyRequest)
        key = store.update(key_id, name=body.name, owner=body.owner, tier=checked_tier(body.tier), quotas=body.quotas)
        cache.forget_all()
        return JSONResponse(shown(found(key_id, key)))

    async def rotate_key(request: Request) -> JSONResponse:
        await auth.admin(request)
        key_id = request.path_params["key_id"]
        found(key_id, store.get(key_id))
        rotated = store.rotate(key_id)
        if rotated is None:
            raise InvalidRequestError("A revoked key cannot be rotated.", param="key_id", code="key_revoked")
        cache.forget_all()
        key, secret = rotated
        return JSONResponse({**shown(key), "key": secret})

    async def revoke_key(request: Request) -> JSONResponse:
        await auth.admin(request)
        key_id = request.path_params["key_id"]
        found(key_id, store.get(key_id))
        key = found(key_id, store.revoke(key_id))
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
