"""Which engine serves a request: catalog lookup and capability check."""

from __future__ import annotations

from collections.abc import Mapping

from deployments.llm_protocol import LLMEngine
from serve_app.catalog import Capability, Catalog, ModelEntry
from serve_app.errors import InvalidRequestError, model_not_found


class ModelRouter:
    def __init__(self, catalog: Catalog, engines: Mapping[str, LLMEngine]) -> None:
        self.catalog = catalog
        self.engines = dict(engines)

    def entry(self, model_id: str) -> ModelEntry:
        entry = self.catalog.get(model_id)
        if entry is None or model_id not in self.engines:
            raise model_not_found(model_id)
        return entry

    def resolve(self, model_id: str, capability: Capability) -> LLMEngine:
        entry = self.entry(model_id)
        if not entry.supports(capability):
            offered = ", ".join(c.value for c in entry.capabilities)
            raise InvalidRequestError(
                f"The model `{model_id}` does not support {capability.value} (it offers: {offered}).",
                param="model",
                code="model_not_supported",
            )
        return self.engines[model_id]
