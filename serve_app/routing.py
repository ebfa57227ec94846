"""Which engine serves a request: catalog lookup and capability check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Protocol, cast

from starlette.responses import Response

from deployments.embedding_protocol import EmbeddingEngine
from deployments.llm_protocol import LLMEngine
from deployments.transcription_protocol import TranscriptionEngine
from serve_app.catalog import Capability, Catalog, ModelEntry
from serve_app.catalog.lifecycle import deprecation_headers
from serve_app.errors import GoneError, InvalidRequestError, model_not_found


class HealthChecked(Protocol):
    async def check_health(self) -> None: ...


class ModelRouter:
    """Engines by model id: Serve handles (`DeploymentEngine`) or, in unit tests, stand-ins."""

    def __init__(self, catalog: Catalog, engines: Mapping[str, HealthChecked],
                 today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date()) -> None:
        self.catalog = catalog
        self._entries = {entry.id: entry for entry in catalog.models}  # looked up twice per request
        self.engines = dict(engines)
        self.today = today

    def entry(self, model_id: str) -> ModelEntry:
        """The catalog entry of a model that exists (retired ones included) and is served here."""
        entry = self._entries.get(model_id)
        status = entry.lifecycle.status(self.today()) if entry else "preview"
        if entry is None or status == "preview" or (status != "retired" and model_id not in self.engines):
            raise model_not_found(model_id)
        return entry

    def listed(self) -> list[ModelEntry]:
        """The models clients see: those served here, and the retired ones (which answer 410)."""
        return [entry for entry in self.catalog.models
                if entry.lifecycle.status(self.today()) == "retired"
                or (entry.id in self.engines and entry.lifecycle.status(self.today()) != "preview")]

    def annotate(self, response: Response, model_id: str) -> Response:
        """Adds the lifecycle headers of ``model_id`` (deprecation, sunset, successor) to ``response``."""
        response.headers.update(deprecation_headers(self.entry(model_id), self.today()))
        return response

    def llm(self, model_id: str, capability: Capability) -> LLMEngine:
        return cast(LLMEngine, self._resolve(model_id, capability))

    def embedder(self, model_id: str) -> EmbeddingEngine:
        return cast(EmbeddingEngine, self._resolve(model_id, Capability.EMBEDDINGS))

    def reranker(self, model_id: str) -> EmbeddingEngine:
        return cast(EmbeddingEngine, self._resolve(model_id, Capability.RERANK))

    def transcriber(self, model_id: str) -> TranscriptionEngine:
        return cast(TranscriptionEngine, self._resolve(model_id, Capability.TRANSCRIPTION))

    def _resolve(self, model_id: str, capability: Capability) -> HealthChecked:
        """The engine of ``model_id``, once the catalog says it has ``capability``."""
        entry = self.entry(model_id)
        life = entry.lifecycle
        if life.status(self.today()) == "retired":
            instead = f" Use `{life.replacement}` instead." if life.replacement else ""
            raise GoneError(f"The model `{model_id}` was retired on {life.retires_on}.{instead}", param="model",
                            code="model_retired")
        if not entry.supports(capability):
            offered = ", ".join(c.value for c in entry.capabilities)
            raise InvalidRequestError(
                f"The model `{model_id}` does not support {capability.value} (it offers: {offered}).",
                param="model",
                code="model_not_supported",
            )
        return self.engines[model_id]
