"""Which engine serves a request: catalog lookup and capability check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, cast

from deployments.embedding_protocol import EmbeddingEngine
from deployments.llm_protocol import LLMEngine
from deployments.transcription_protocol import TranscriptionEngine
from serve_app.catalog import Capability, Catalog, ModelEntry
from serve_app.errors import InvalidRequestError, model_not_found


class HealthChecked(Protocol):
    async def check_health(self) -> None: ...


class ModelRouter:
    """Engines by model id: Serve handles (`DeploymentEngine`) or, in unit tests, stand-ins."""

    def __init__(self, catalog: Catalog, engines: Mapping[str, HealthChecked]) -> None:
        self.catalog = catalog
        self.engines = dict(engines)

    def entry(self, model_id: str) -> ModelEntry:
        entry = self.catalog.get(model_id)
        if entry is None or model_id not in self.engines:
            raise model_not_found(model_id)
        return entry

    def llm(self, model_id: str, capability: Capability) -> LLMEngine:
        return cast(LLMEngine, self._resolve(model_id, capability))

    def embedder(self, model_id: str) -> EmbeddingEngine:
        return cast(EmbeddingEngine, self._resolve(model_id, Capability.EMBEDDINGS))

    def transcriber(self, model_id: str) -> TranscriptionEngine:
        return cast(TranscriptionEngine, self._resolve(model_id, Capability.TRANSCRIPTION))

    def _resolve(self, model_id: str, capability: Capability) -> HealthChecked:
        """The engine of ``model_id``, once the catalog says it has ``capability``."""
        entry = self.entry(model_id)
        if not entry.supports(capability):
            offered = ", ".join(c.value for c in entry.capabilities)
            raise InvalidRequestError(
                f"The model `{model_id}` does not support {capability.value} (it offers: {offered}).",
                param="model",
                code="model_not_supported",
            )
        return self.engines[model_id]
