"""The ingress deployment: the OpenAI HTTP schema in front of the model deployments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.applications import Starlette
from starlette.types import ASGIApp

from serve_app import admin, health, models_api, openapi
from serve_app.audio import routes as audio_routes
from serve_app.audio.serving import TranscriptionService
from serve_app.auth import Authenticator
from serve_app.catalog import Catalog
from serve_app.chat.images import ImagePolicy
from serve_app.chat.protocol import ChatCompletionRequest
from serve_app.chat.serving import ChatService
from serve_app.completions.protocol import CompletionRequest
from serve_app.completions.serving import CompletionService
from serve_app.embeddings.protocol import EmbeddingCreateRequest
from serve_app.embeddings.serving import EmbeddingService
from serve_app.engine_client import DeploymentEngine
from serve_app.errors import EXCEPTION_TYPES, handle_exception
from serve_app.http import RequestContextMiddleware, json_endpoint
from serve_app.keys import KeyCache, KeyStore
from serve_app.routing import HealthChecked, ModelRouter
from serve_app.settings import Settings


def build_asgi_app(settings: Settings, catalog: Catalog, engines: Mapping[str, HealthChecked],
                   today: Callable[[], dt.date] | None = None) -> ASGIApp:
    """The whole HTTP API as a Starlette app; engines are Serve handles or, in unit tests, stand-ins."""
    store = KeyStore(settings.data_dir)
    cache = KeyCache(store, settings.key_cache_seconds)
    auth = Authenticator(cache, settings.admin_token)
    router = ModelRouter(catalog, engines, today) if today else ModelRouter(catalog, engines)
    chat = ChatService(router, ImagePolicy(settings.max_image_bytes, settings.image_url_allowed_hosts))
    routes = [
        *models_api.routes(router, auth),
        json_endpoint("/v1/chat/completions", ChatCompletionRequest, chat.create, auth.api_key),
        json_endpoint("/v1/completions", CompletionRequest, CompletionService(router).create, auth.api_key),
        json_endpoint("/v1/embeddings", EmbeddingCreateRequest, EmbeddingService(router).create, auth.api_key),
        *audio_routes.routes(TranscriptionService(router), auth, settings.max_audio_bytes),
        *admin.routes(store, cache, auth),
        *health.routes(router, settings.health_timeout_seconds),
        *openapi.routes(),
    ]
    app = Starlette(routes=routes, exception_handlers=dict.fromkeys(EXCEPTION_TYPES, handle_exception))
    audio_limit = audio_routes.body_limit(settings.max_body_bytes, settings.max_audio_bytes)
    return RequestContextMiddleware(app, max_body_bytes=settings.max_body_bytes,
                                    prefix_limits={audio_routes.PREFIX: audio_limit})


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=2048)
@serve.ingress()
class Ingress:
    def __init__(self, settings: Settings, catalog: Catalog, handles: dict[str, DeploymentHandle]) -> None:
        self._settings = settings
        self._catalog = catalog
        self._handles = handles

    def catalog_snapshot(self) -> dict[str, Any]:
        """The catalog this app runs, as data (``python -m serve_app.catalog diff`` compares against it)."""
        return self._catalog.model_dump(mode="json")

    def __serve_build_asgi_app__(self) -> ASGIApp:
        engines = {model_id: DeploymentEngine(handle) for model_id, handle in self._handles.items()}
        return build_asgi_app(self._settings, self._catalog, engines)
