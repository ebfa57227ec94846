"""The catalog schema: the single source of truth for which models run, where, how, at what price and
for how long. A catalog is a YAML file validated on load into :class:`Catalog`; every refusal names the
entry at fault."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

MIN_NOTICE_DAYS = 90  # a retirement is announced at least this long before it happens


class Capability(StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    TRANSCRIPTION = "transcription"
    VISION = "vision"
    TOOLS = "tools"
    RERANK = "rerank"


class UseCase(StrEnum):
    GENERAL = "general"
    REASONING = "reasoning"
    CODE = "code"
    LONG_DOCUMENTS = "long_documents"
    MULTILINGUAL = "multilingual"
    RETRIEVAL = "retrieval"
    SPEECH = "speech"
    DOCUMENTS_AND_IMAGES = "documents_and_images"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Autoscaling(_Strict):
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float = Field(default=8, gt=0, description="Requests per replica to aim at.")

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})")
        return self


class Resources(_Strict):
    """What one replica reserves from Ray."""

    num_cpus: float = Field(default=1, ge=0)
    num_gpus: float = Field(default=0, ge=0)
    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs one model copy is split across.")
    memory_gb: float | None = Field(default=None, gt=0, description="Memory reserved per replica.")

    @model_validator(mode="after")
    def _parallelism_fits(self) -> Resources:
        if self.tensor_parallel_size > 1 and self.tensor_parallel_size != self.num_gpus:
            raise ValueError(f"tensor_parallel_size {self.tensor_parallel_size} needs num_gpus "
                             f"{self.tensor_parallel_size} per replica, not {self.num_gpus}")
        return self


class Pricing(_Strict):
    """Prices in the operator's currency: per million tokens, per audio minute."""

    input_per_million: float = Field(default=0, ge=0)
    output_per_million: float = Field(default=0, ge=0)
    audio_per_minute: float = Field(default=0, ge=0)
    batch_discount: float = Field(
        default=0.5, ge=0, le=1,
        description="The share taken off these prices for requests run through the Batch API (0.5: half price).")

    def for_batches(self) -> Pricing:
        """The prices of requests run in a batch."""
        keep = 1 - self.batch_discount
        return self.model_copy(update={"input_per_million": self.input_per_million * keep,
                                       "output_per_million": self.output_per_million * keep,
                                       "audio_per_minute": self.audio_per_minute * keep})


class Lifecycle(_Strict):
    available_from: dt.date = dt.date(2026, 1, 1)
    deprecated_on: dt.date | None = Field(default=None, description="When the deprecation is announced.")
    retires_on: dt.date | None = Field(default=None, description="From this day on, calls answer 410.")
    replacement: str | None = Field(default=None, description="The model id to move to.")

    def status(self, today: dt.date) -> Literal["preview", "available", "deprecated", "retired"]:
        if self.retires_on is not None and today >= self.retires_on:
            return "retired"
        if self.deprecated_on is not None and today >= self.deprecated_on:
            return "deprecated"
        return "available" if today >= self.available_from else "preview"


EMBEDDING_ENGINES = ("sentence-transformers", "vllm-pooling")


class ModelEntry(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$", description="The id clients send as `model`.")
    family: str
    engine: Literal["vllm", "vllm-pooling", "sentence-transformers", "faster-whisper"] = Field(
        description="vllm: chat and completions; vllm-pooling (vLLM's pooling runner) or sentence-transformers: "
        "embeddings and rerank, from the same model folder; faster-whisper: transcription.")
    source: str = Field(description="A folder (relative paths are under the models dir) or a hub id.")
    capabilities: list[Capability] = Field(min_length=1)
    use_cases: list[UseCase] = Field(default_factory=lambda: [UseCase.GENERAL])
    context_length: int = Field(gt=0)
    license: str = "unspecified"
    ip_indemnified: bool = Field(default=False, description="The provider indemnifies IP claims (Granite).")
    owned_by: str = "llmaas"
    created: int = Field(default=1_767_225_600, description="Unix time shown as the model's `created`.")
    pricing: Pricing = Pricing()
    autoscaling: Autoscaling = Autoscaling()
    resources: Resources = Resources()
    lifecycle: Lifecycle = Lifecycle()
    engine_args: dict[str, Any] = Field(default_factory=dict, description="Extra engine arguments.")
    engine_env: dict[str, str] = Field(default_factory=dict, description="Environment of the replicas.")
    tool_parser: str | None = Field(
        default=None, description="vLLM's tool parser for the model's tool-call syntax (hermes, mistral, "
        "llama3_json, granite, ...); required by the `tools` capability.")
    reasoning_parser: str | None = Field(
        default=None, description="vLLM's reasoning parser (deepseek_r1, qwen3, mistral, granite, ...): the "
        "model's thinking comes apart from its answer, in `reasoning`, counted in `reasoning_tokens`.")
    chat_template: str | None = Field(
        default=None, description="A chat template in place of the model's own: a file name under "
        "deployments/chat_templates/ or an absolute path (e.g. one that renders tools).")
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Variables every rendering of the chat template gets.")

    @model_validator(mode="after")
    def _tools_need_a_parser(self) -> ModelEntry:
        if Capability.TOOLS in self.capabilities:
            if self.tool_parser is None:
                raise ValueError(f"{self.id}: the tools capability needs a tool_parser (vLLM's, e.g. hermes)")
            if Capability.CHAT not in self.capabilities:
                raise ValueError(f"{self.id}: the tools capability needs the chat capability")
        elif self.tool_parser is not None:
            raise ValueError(f"{self.id}: tool_parser is set but the tools capability is not listed")
        return self

    @model_validator(mode="after")
    def _rerank_needs_an_embeddings_engine(self) -> ModelEntry:
        if Capability.RERANK in self.capabilities and self.engine not in EMBEDDING_ENGINES:
            raise ValueError(f"{self.id}: the rerank capability is served by an embeddings engine "
                             f"({' or '.join(EMBEDDING_ENGINES)})")
        if self.engine_args.get("cross_encoder") and self.engine != "sentence-transformers":
            raise ValueError(f"{self.id}: a cross-encoder (engine_args.cross_encoder) runs on sentence-transformers")
        if self.engine_args.get("cross_encoder") and self.capabilities != [Capability.RERANK]:
            raise ValueError(f"{self.id}: a cross-encoder (engine_args.cross_encoder) offers rerank only")
        return self

    @property
    def deployment_name(self) -> str:
        return "model-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in self.id)

    def engine_spec(self) -> ModelEntry:
        """The entry reduced to what its engine needs: no prices, lifecycle, scaling or descriptions."""
        serving = {"id", "family", "engine", "source", "capabilities", "context_length", "resources", "engine_args",
                   "engine_env", "tool_parser", "reasoning_parser", "chat_template", "chat_template_kwargs"}
        return ModelEntry.model_validate(self.model_dump(include=serving))

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def with_source_under(self, models_dir: Path) -> ModelEntry:
        """The entry with a relative local source resolved under ``models_dir``."""
        local = models_dir / self.source
        return self.model_copy(update={"source": str(local)}) if local.exists() else self


class Catalog(_Strict):
    models: list[ModelEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        ids: set[str] = set()
        for entry in self.models:
            if entry.id in ids:
                raise ValueError(f"duplicate model id {entry.id!r}: each id may appear once")
            ids.add(entry.id)
        for entry in self.models:
            _check_lifecycle(entry, ids)
        return self

    def get(self, model_id: str) -> ModelEntry | None:
        return next((entry for entry in self.models if entry.id == model_id), None)

    def with_sources_under(self, models_dir: Path) -> Catalog:
        return self.model_copy(update={"models": [m.with_source_under(models_dir) for m in self.models]})

    def at_batch_prices(self) -> Catalog:
        """The same catalog with every model priced as in a batch (``Pricing.batch_discount``)."""
        return self.model_copy(update={"models": [m.model_copy(update={"pricing": m.pricing.for_batches()})
                                                  for m in self.models]})


def _check_lifecycle(entry: ModelEntry, ids: set[str]) -> None:
    life = entry.lifecycle
    name = f"model {entry.id!r}"
    if life.deprecated_on is not None and life.deprecated_on < life.available_from:
        raise ValueError(f"{name}: deprecated_on {life.deprecated_on} is before available_from {life.available_from}")
    if life.retires_on is not None:
        if life.deprecated_on is None:
            raise ValueError(f"{name}: retires_on {life.retires_on} needs a deprecated_on announcement at least "
                             f"{MIN_NOTICE_DAYS} days before it")
        notice = (life.retires_on - life.deprecated_on).days
        if notice < MIN_NOTICE_DAYS:
            raise ValueError(f"{name}: retires_on {life.retires_on} is only {notice} days after deprecated_on "
                             f"{life.deprecated_on}; at least {MIN_NOTICE_DAYS} days of notice are required")
    if life.replacement is not None and (life.replacement not in ids or life.replacement == entry.id):
        raise ValueError(f"{name}: replacement {life.replacement!r} is not another model of this catalog")


def load_catalog(path: Path) -> Catalog:
    """Reads and validates a catalog."""
    with path.open(encoding="utf-8") as handle:
        return Catalog.model_validate(catalog_document(yaml.safe_load(handle)))


def catalog_document(document: Any) -> Any:
    """A catalog file's document without its top-level ``x-*`` keys, which hold YAML anchors."""
    if isinstance(document, dict):
        return {key: value for key, value in document.items() if not str(key).startswith("x-")}
    return document
