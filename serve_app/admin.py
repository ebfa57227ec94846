"""The admin API: ``/admin/v1/keys`` to create, list and revoke API keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.errors import NotFoundError
from serve_app.http import parse_body
from serve_app.keys import KeyCache, KeyStore


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


def routes(store: KeyStore, cache: KeyCache, auth: Authenticator) -> list[Route]:
    async def create_key(request: Request) -> JSONResponse:
        auth.admin(request)
        body = await parse_body(request, CreateKeyRequest)
        key, secret = store.create(body.name)
        return JSONResponse({**key.public(), "key": secret})

    async def list_keys(request: Request) -> JSONResponse:
        auth.admin(request)
        return JSONResponse({"object": "list", "data": [key.public() for key in store.list()]})

    async def revoke_key(request: Request) -> JSONResponse:
        auth.admin(request)
        key_id = request.path_params["key_id"]
        key = store.revoke(key_id)
        if key is None:
            raise NotFoundError(f"No API key with id `{key_id}`.", param="key_id", code="key_not_found")
        cache.forget_all()
        return JSONResponse({"id": key.id, "object": "api_key.deleted", "deleted": True})

    return [
        Route("/admin/v1/keys", create_key, methods=["POST"]),
        Route("/admin/v1/keys", list_keys, methods=["GET"]),
        Route("/admin/v1/keys/{key_id}", revoke_key, methods=["DELETE"]),
    ]
