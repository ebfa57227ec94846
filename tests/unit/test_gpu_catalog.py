"""The production GPU catalog (catalog.gpu.yaml) and the clusters that run it (deploy/aws/cluster.yaml's node types
and the KubeRay RayService's worker groups, deploy/kubernetes/rayservice.yaml): what the offer contains, that each
entry is sized and priced coherently, that the lifecycle is at work, and that the catalog's replicas fit the
clusters' worker nodes. No Ray, no engine: files only."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from serve_app.catalog import Capability, Catalog, ModelEntry, UseCase, load_catalog
from serve_app.catalog.schema import MIN_NOTICE_DAYS
from serve_app.ray_env import SERVE_ENV
from tests.support import node_types

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 24)
GIB = 1024**3
FAMILIES = {"Llama", "Qwen", "Mistral", "Gemma", "Granite", "DeepSeek", "Cogito", "Whisper"}
LONG_CONTEXT = 128_000
# Arguments the vLLM deployment derives from the entry itself: repeating them in engine_args would clash.
DERIVED_ENGINE_ARGS = {"model", "served_model_name", "max_model_len", "tensor_parallel_size"}


@pytest.fixture(scope="module")
def gpu_catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.gpu.yaml")


@pytest.fixture(scope="module", params=["aws", "kuberay"])
def cluster(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each GPU cluster the project ships, as launcher node types (tests/support/node_types.py)."""
    config: dict[str, Any] = getattr(node_types, request.param)()
    return config


def _ids(catalog: Catalog, capability: Capability | None = None, use_case: UseCase | None = None) -> set[str]:
    return {entry.id for entry in catalog.models
            if (capability is None or entry.supports(capability))
            and (use_case is None or use_case in entry.use_cases)}


def _serving(catalog: Catalog) -> list[ModelEntry]:
    """The entries that still run replicas (retired ones answer 410 from the catalog alone)."""
    return [entry for entry in catalog.models if entry.lifecycle.status(TODAY) != "retired"]


def test_the_production_catalog_validates_and_offers_at_least_40_models(gpu_catalog: Catalog) -> None:
    assert len(gpu_catalog.models) >= 40
    families = Counter(entry.family for entry in gpu_catalog.models)
    assert set(families) >= FAMILIES
    assert families["Qwen"] >= 5 and families["Llama"] >= 3 and families["Mistral"] >= 3


def test_sources_are_hugging_face_ids(gpu_catalog: Catalog) -> None:
    for entry in gpu_catalog.models:
        organisation, _, name = entry.source.partition("/")
        assert organisation and name and "/" not in name, entry.id


def test_the_gpu_catalog_names_real_vision_models(gpu_catalog: Catalog) -> None:
    vision = _ids(gpu_catalog, Capability.VISION)
    assert {"Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL-32B-Instruct", "Qwen2.5-VL-72B-Instruct", "gemma-3-4b-it",
            "gemma-3-12b-it", "gemma-3-27b-it", "granite-vision-3.2-2b", "Mistral-Small-3.1-24B-Instruct",
            "Llama-3.2-11B-Vision-Instruct"} <= vision
    for model_id in vision:
        entry = gpu_catalog.get(model_id)
        assert entry is not None and entry.engine == "vllm"
        assert entry.engine_args["limit_mm_per_prompt"]["image"] >= 1, model_id
        assert UseCase.DOCUMENTS_AND_IMAGES in entry.use_cases, model_id


def test_the_offer_covers_every_use_case(gpu_catalog: Catalog) -> None:
    long_context = {entry.id for entry in gpu_catalog.models if entry.context_length >= LONG_CONTEXT}
    assert {"Llama-3.1-8B-Instruct", "Llama-3.3-70B-Instruct", "gemma-3-27b-it", "Mistral-Small-3.2-24B-Instruct",
            "granite-3.3-8b-instruct", "DeepSeek-R1-0528"} <= long_context
    assert _ids(gpu_catalog, use_case=UseCase.LONG_DOCUMENTS) >= {"Llama-3.3-70B-Instruct", "gemma-3-27b-it"}
    assert {"Qwen2.5-Coder-7B-Instruct", "Qwen2.5-Coder-32B-Instruct", "Devstral-Small-2507",
            "DeepSeek-Coder-V2-Lite-Instruct", "granite-8b-code-instruct-128k"} <= _ids(gpu_catalog,
                                                                                        use_case=UseCase.CODE)
    assert {"QwQ-32B", "DeepSeek-R1-Distill-Qwen-32B", "DeepSeek-R1-0528", "Magistral-Small-2506",
            "cogito-v1-preview-llama-8B", "cogito-v1-preview-qwen-14B", "cogito-v1-preview-qwen-32B",
            "cogito-v1-preview-llama-70B"} <= _ids(gpu_catalog, use_case=UseCase.REASONING)
    assert len(_ids(gpu_catalog, use_case=UseCase.MULTILINGUAL)) >= 10
    assert {"bge-m3", "multilingual-e5-large", "granite-embedding-278m-multilingual"} <= _ids(
        gpu_catalog, Capability.EMBEDDINGS, UseCase.RETRIEVAL)
    assert {"whisper-large-v3", "whisper-large-v3-turbo", "whisper-medium", "whisper-small"} <= _ids(
        gpu_catalog, Capability.TRANSCRIPTION, UseCase.SPEECH)
    small = {entry.id for entry in gpu_catalog.models if entry.engine == "vllm" and entry.resources.num_gpus < 1}
    assert len(small) >= 3


def test_each_engine_serves_only_its_capabilities(gpu_catalog: Catalog) -> None:
    expected = {"vllm": {Capability.CHAT, Capability.COMPLETIONS, Capability.VISION, Capability.TOOLS},
                "sentence-transformers": {Capability.EMBEDDINGS, Capability.RERANK},
                "faster-whisper": {Capability.TRANSCRIPTION}}
    for entry in gpu_catalog.models:
        assert set(entry.capabilities) <= expected[entry.engine], entry.id


def test_tensor_parallelism_is_declared_once_in_resources(gpu_catalog: Catalog) -> None:
    for entry in gpu_catalog.models:
        resources = entry.resources
        assert resources.tensor_parallel_size <= max(resources.num_gpus, 1), entry.id
        if resources.num_gpus >= 2:
            assert resources.tensor_parallel_size == resources.num_gpus, entry.id
        assert not DERIVED_ENGINE_ARGS & entry.engine_args.keys(), entry.id


def test_gpu_counts_follow_model_size(gpu_catalog: Catalog) -> None:
    def gpus(model_id: str) -> float:
        entry = gpu_catalog.get(model_id)
        assert entry is not None, model_id
        return entry.resources.num_gpus

    assert gpus("Llama-3.1-8B-Instruct") == gpus("Qwen2.5-7B-Instruct") == 1
    assert gpus("Mistral-Small-3.2-24B-Instruct") == gpus("Qwen2.5-32B-Instruct") == gpus("gemma-3-27b-it") == 2
    assert gpus("Llama-3.3-70B-Instruct") == gpus("Qwen2.5-72B-Instruct") == 4
    assert gpus("DeepSeek-R1-0528") == 8
    for entry in gpu_catalog.models:
        if entry.engine != "vllm":
            assert 0 < entry.resources.num_gpus <= 0.5, entry.id
        assert entry.resources.num_cpus >= 1 and entry.resources.memory_gb, entry.id


def test_vllm_entries_follow_the_engine_conventions(gpu_catalog: Catalog) -> None:
    for entry in gpu_catalog.models:
        assert entry.engine_env == {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}
        if entry.engine != "vllm":
            continue
        args = entry.engine_args
        assert args["dtype"] == "bfloat16", entry.id
        assert args["max_num_seqs"] >= 16, entry.id
        if entry.resources.num_gpus < 1:  # a fractional replica caps its own share of the GPU's memory
            assert args["gpu_memory_utilization"] <= entry.resources.num_gpus, entry.id
        if entry.resources.num_gpus > 1:
            assert args["distributed_executor_backend"] == "mp", entry.id
        if entry.source.startswith("mistralai/"):
            assert args["tokenizer_mode"] == "mistral", entry.id
    for model_id in ("Llama-3.3-70B-Instruct", "Qwen2.5-VL-72B-Instruct", "DeepSeek-R1-0528"):
        entry = gpu_catalog.get(model_id)
        assert entry is not None and entry.engine_args["quantization"] == "fp8"


def test_only_granite_models_are_ip_indemnified(gpu_catalog: Catalog) -> None:
    indemnified = {entry.id for entry in gpu_catalog.models if entry.ip_indemnified}
    granite = {entry.id for entry in gpu_catalog.models if entry.family == "Granite"}
    assert indemnified == granite and len(granite) >= 4


def test_licences_are_named(gpu_catalog: Catalog) -> None:
    licences = {entry.id: entry.license for entry in gpu_catalog.models}
    assert "unspecified" not in licences.values()
    assert licences["Llama-3.1-8B-Instruct"] == "llama3.1" and licences["Llama-3.3-70B-Instruct"] == "llama3.3"
    assert licences["gemma-3-27b-it"] == "gemma" and licences["Qwen2.5-72B-Instruct"] == "qwen"
    assert licences["Ministral-8B-Instruct-2410"] == "mrl" and licences["DeepSeek-R1-0528"] == "mit"
    assert licences["granite-3.3-8b-instruct"] == licences["Mistral-Small-3.2-24B-Instruct"] == "apache-2.0"


def test_prices_follow_the_metering_unit_and_model_size(gpu_catalog: Catalog) -> None:
    for entry in gpu_catalog.models:
        price = entry.pricing
        if entry.engine == "faster-whisper":
            assert price.audio_per_minute > 0 and price.input_per_million == price.output_per_million == 0
        elif entry.engine == "sentence-transformers":
            assert price.input_per_million > 0 and price.output_per_million == price.audio_per_minute == 0
        else:
            assert 0 < price.input_per_million <= price.output_per_million and price.audio_per_minute == 0
    by_gpus: dict[float, list[float]] = {}
    for entry in gpu_catalog.models:
        if entry.engine == "vllm":
            by_gpus.setdefault(entry.resources.num_gpus, []).append(entry.pricing.input_per_million)
    sizes = sorted(by_gpus)
    for smaller, larger in pairwise(sizes):
        assert max(by_gpus[smaller]) <= min(by_gpus[larger]), (smaller, larger)


def test_small_models_take_more_requests_per_replica(gpu_catalog: Catalog) -> None:
    def target(model_id: str) -> float:
        entry = gpu_catalog.get(model_id)
        assert entry is not None, model_id
        return entry.autoscaling.target_ongoing_requests

    assert target("Llama-3.2-3B-Instruct") > target("Llama-3.1-8B-Instruct") > target("Llama-3.3-70B-Instruct")
    assert target("whisper-large-v3") < target("bge-m3")


def test_the_lifecycle_is_at_work(gpu_catalog: Catalog) -> None:
    statuses = {entry.id: entry.lifecycle.status(TODAY) for entry in gpu_catalog.models}
    deprecated = {model_id for model_id, status in statuses.items() if status == "deprecated"}
    retired = {model_id for model_id, status in statuses.items() if status == "retired"}
    assert len(deprecated) >= 4 and len(retired) >= 1
    assert {"Llama-3.1-70B-Instruct", "Mistral-7B-Instruct-v0.3", "Qwen2-7B-Instruct", "whisper-medium"} <= deprecated
    assert sum(status == "available" for status in statuses.values()) >= 35
    upcoming = [entry for entry in gpu_catalog.models
                if entry.lifecycle.retires_on is not None and entry.lifecycle.retires_on > TODAY]
    assert any(entry.lifecycle.retires_on is not None and entry.lifecycle.retires_on.year == 2027
               for entry in upcoming)
    for entry in gpu_catalog.models:
        life = entry.lifecycle
        assert dt.date(2025, 1, 1) <= life.available_from <= dt.date(2026, 12, 31), entry.id
        if life.deprecated_on is None:
            continue
        assert life.retires_on is not None and life.replacement is not None, entry.id
        assert (life.retires_on - life.deprecated_on).days >= MIN_NOTICE_DAYS, entry.id
        successor = gpu_catalog.get(life.replacement)
        assert successor is not None and successor.lifecycle.status(TODAY) == "available", entry.id
        assert set(entry.capabilities) <= set(successor.capabilities), entry.id


def test_retired_and_deprecated_models_do_not_grow(gpu_catalog: Catalog) -> None:
    for entry in gpu_catalog.models:
        status = entry.lifecycle.status(TODAY)
        if status == "retired":
            assert entry.autoscaling.min_replicas == 0, entry.id
        if status in {"deprecated", "retired"}:
            assert entry.autoscaling.max_replicas == 1, entry.id


# ------------------------------------------------------------------------------------------ the cluster


@dataclass
class _Node:
    """One worker node: its free CPUs, memory (GiB, None when the launcher detects it) and GPU shares."""

    node_type: str
    cpus: float
    memory_gib: float | None
    gpus: list[float] = field(default_factory=list)

    def place(self, entry: ModelEntry) -> bool:
        need = entry.resources
        if need.num_cpus > self.cpus:
            return False
        if self.memory_gib is not None and need.memory_gb is not None and need.memory_gb > self.memory_gib:
            return False
        if need.num_gpus >= 1:  # whole GPUs, all on this node
            free = [index for index, share in enumerate(self.gpus) if share == 1]
            if len(free) < need.num_gpus:
                return False
            taken = free[: int(need.num_gpus)]
        else:  # a fraction of one GPU
            fitting = [index for index, share in enumerate(self.gpus) if share >= need.num_gpus]
            if not fitting:
                return False
            taken = fitting[:1]
        for index in taken:
            self.gpus[index] -= min(need.num_gpus, 1)
        self.cpus -= need.num_cpus
        if self.memory_gib is not None and need.memory_gb is not None:
            self.memory_gib -= need.memory_gb
        return True


def _gpu_worker_types(cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    types: dict[str, dict[str, Any]] = cluster["available_node_types"]
    return {name: spec for name, spec in types.items()
            if name != cluster["head_node_type"] and spec["resources"].get("GPU", 0) > 0}


def _node(name: str, spec: dict[str, Any]) -> _Node:
    resources = spec["resources"]
    memory = resources["memory"] / GIB if "memory" in resources else None
    return _Node(name, resources["CPU"], memory, [1.0] * resources["GPU"])


def _nodes(cluster: dict[str, Any], count_key: str) -> list[_Node]:
    """The worker nodes at ``min_workers`` or ``max_workers``, the nodes with the most GPUs first."""
    by_gpus = sorted(_gpu_worker_types(cluster).items(), key=lambda item: -item[1]["resources"]["GPU"])
    return [_node(name, spec) for name, spec in by_gpus for _ in range(spec[count_key])]


def _pack(replicas: list[ModelEntry], nodes: list[_Node]) -> list[str]:
    """First-fit decreasing; returns the replicas that found no node."""
    unplaced = []
    for entry in sorted(replicas, key=lambda e: (-e.resources.num_gpus, -e.resources.num_cpus)):
        if not any(node.place(entry) for node in nodes):
            unplaced.append(entry.id)
    return unplaced


def test_the_cluster_has_one_gpu_four_gpu_and_eight_gpu_workers(cluster: dict[str, Any]) -> None:
    workers = _gpu_worker_types(cluster)
    assert {spec["resources"]["GPU"] for spec in workers.values()} >= {1, 4, 8}
    assert cluster["max_workers"] >= sum(spec["max_workers"] for spec in workers.values())
    for name, spec in workers.items():
        assert 0 <= spec["min_workers"] <= spec["max_workers"], name
        assert spec["resources"]["CPU"] >= 4 * spec["resources"]["GPU"], name


def test_the_aws_nodes_install_the_gpu_profile_and_start_ray_as_the_platform_runs_it() -> None:
    cluster = node_types.aws()
    setup = " ".join(cluster["setup_commands"])
    assert 'pip install -e ".[gpu]"' in setup
    head_start = " ".join(cluster["head_start_ray_commands"])
    for name, value in SERVE_ENV.items():  # the head runs Serve with the platform's own Serve settings
        assert f"{name}={value}" in head_start
    for commands in (cluster["head_start_ray_commands"], cluster["worker_start_ray_commands"]):
        start = " ".join(commands)
        assert "RAY_USAGE_STATS_ENABLED=0" in start and "--disable-usage-stats" in start


def test_the_catalogs_gpus_fit_the_cluster_at_max_workers(gpu_catalog: Catalog, cluster: dict[str, Any]) -> None:
    workers = _gpu_worker_types(cluster).values()
    capacity = sum(spec["resources"]["GPU"] * spec["max_workers"] for spec in workers)
    floor = sum(entry.autoscaling.min_replicas * entry.resources.num_gpus for entry in gpu_catalog.models)
    ceiling = sum(entry.autoscaling.max_replicas * entry.resources.num_gpus for entry in _serving(gpu_catalog))
    assert 0 < floor <= capacity
    assert ceiling <= capacity


def test_every_replica_fits_some_worker_type(gpu_catalog: Catalog, cluster: dict[str, Any]) -> None:
    workers = _gpu_worker_types(cluster)
    for entry in gpu_catalog.models:
        assert any(_node(name, spec).place(entry) for name, spec in workers.items()), entry.id
    eight = [spec for spec in workers.values() if spec["resources"]["GPU"] >= 8]
    assert all("accelerator_type:H200" in spec["resources"] for spec in eight)  # 671B in FP8 needs 141 GB GPUs


def test_the_min_replicas_pack_into_the_min_workers(gpu_catalog: Catalog, cluster: dict[str, Any]) -> None:
    replicas = [entry for entry in gpu_catalog.models for _ in range(entry.autoscaling.min_replicas)]
    assert _pack(replicas, _nodes(cluster, "min_workers")) == []


def test_the_max_replicas_pack_into_the_max_workers(gpu_catalog: Catalog, cluster: dict[str, Any]) -> None:
    replicas = [entry for entry in _serving(gpu_catalog) for _ in range(entry.autoscaling.max_replicas)]
    assert _pack(replicas, _nodes(cluster, "max_workers")) == []


def test_the_gpu_catalog_offers_a_cross_encoder_reranker(gpu_catalog: Catalog) -> None:
    rerankers = [entry for entry in gpu_catalog.models if entry.supports(Capability.RERANK)]
    assert rerankers and all(entry.engine_args.get("cross_encoder") for entry in rerankers)
    assert all(entry.capabilities == [Capability.RERANK] for entry in rerankers)
