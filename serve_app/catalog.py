"""The model catalog: the single source of truth for which models run, where and how.

A catalog is a YAML file validated on load into :class:`Catalog`. ``build_app`` turns each entry into a
Serve deployment; the ingress uses it for ``/v1/models`` and for routing.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Capability(StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    TRANSCRIPTION = "transcription"
    VISION = "vision"


class Autoscaling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float = Field(default=8, gt=0, description="Requests per replica to aim at.")

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})")
        return self


class Resources(BaseModel):
    """What one replica reserves from Ray."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(default=1, ge=0)
    num_gpus: float = Field(default=0, ge=0)
    memory_gb: float | None = Field(default=None, gt=0, description="Memory reserved per replica.")


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$", description="The id clients send as `model`.")
    family: str
    engine: Literal["vllm", "sentence-transformers", "faster-whisper"]
    source: str = Field(description="A folder (relative paths are under the models dir) or a hub id.")
    capabilities: list[Capability] = Field(min_length=1)
    context_length: int = Field(gt=0)
    owned_by: str = "llmaas"
    created: int = Field(default=1_767_225_600, description="Unix time shown as the model's `created`.")
    autoscaling: Autoscaling = Autoscaling()
    resources: Resources = Resources()
    engine_args: dict[str, Any] = Field(default_factory=dict, description="Extra engine arguments.")
    engine_env: dict[str, str] = Field(default_factory=dict, description="Environment of the replicas.")

    @property
    def deployment_name(self) -> str:
        return "model-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in self.id)

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def with_source_under(self, models_dir: Path) -> ModelEntry:
        """The entry with a relative local source resolved under ``models_dir``."""
        local = models_dir / self.source
        return self.model_copy(update={"source": str(local)}) if local.exists() else self


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[ModelEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalog:
        seen: set[str] = set()
        for entry in self.models:
            if entry.id in seen:
                raise ValueError(f"duplicate model id {entry.id!r}: each id may appear once")
            seen.add(entry.id)
        return self

    def get(self, model_id: str) -> ModelEntry | None:
        return next((entry for entry in self.models if entry.id == model_id), None)

    def with_sources_under(self, models_dir: Path) -> Catalog:
        return self.model_copy(update={"models": [m.with_source_under(models_dir) for m in self.models]})


def load_catalog(path: Path) -> Catalog:
    """Reads and validates a catalog; top-level ``x-*`` keys hold YAML anchors and are skipped."""
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    if isinstance(document, dict):
        document = {key: value for key, value in document.items() if not str(key).startswith("x-")}
    return Catalog.model_validate(document)
