"""The embeddings peer of ``python -m benchmarks`` (vLLM's OpenAI server with its pooling runner): its command line
from the catalog entry, its place in the tables and the targets (no server is started here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report, run, vllm_embed_peer
from benchmarks.stats import RequestRecord, summarize_units
from serve_app.catalog import EMBEDDING_ENGINES, ModelEntry, load_catalog
from tests.unit.test_benchmarks_report import results

ROOT = Path(__file__).resolve().parents[2]
LEVEL = "32 in/req, c=4"


def embedding_entry(catalog: str = "catalog.cpu.yaml") -> ModelEntry:
    return next(model for model in load_catalog(ROOT / catalog).models
                if model.engine in EMBEDDING_ENGINES and "embeddings" in model.capabilities)


def test_the_server_serves_the_entry_folder_with_the_pooling_runner_and_vllm_cpu_settings() -> None:
    entry = embedding_entry()
    found = vllm_embed_peer.command(entry, Path("/models"), 9000)
    assert found[1:4] == ["-m", "vllm.entrypoints.openai.api_server", "--model"]
    assert found[found.index("--model") + 1] == f"/models/{entry.source}"
    assert found[found.index("--runner") + 1] == "pooling"
    assert found[found.index("--served-model-name") + 1] == entry.id
    assert found[found.index("--max-model-len") + 1] == str(entry.context_length)
    assert found[found.index("--dtype") + 1] == "float32" and "--enforce-eager" in found
    assert found[-4:] == ["--host", "127.0.0.1", "--port", "9000"]
    env = vllm_embed_peer.environment(entry)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1" and env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert env["OMP_NUM_THREADS"] == entry.engine_env["OMP_NUM_THREADS"]  # the entry's threads, as its replica


def test_on_a_gpu_the_server_keeps_vllm_defaults() -> None:
    entry = embedding_entry("catalog.gpu.yaml")
    found = vllm_embed_peer.command(entry, Path("/models"), 9000)
    assert "--dtype" not in found and "--enforce-eager" not in found
    assert "VLLM_CPU_KVCACHE_SPACE" not in vllm_embed_peer.environment(entry)


def test_the_embeddings_peer_is_one_of_the_peers() -> None:
    assert vllm_embed_peer.NAME in run.PEERS and vllm_embed_peer.NAME not in run.CHAT_PEERS
    assert run.arguments(["--peers", vllm_embed_peer.NAME]).peers == [vllm_embed_peer.NAME]
    assert vllm_embed_peer.NAME in run.arguments([]).peers  # vLLM is installed in the project's environment


def with_peer(peer_seconds: float) -> dict[str, Any]:
    """The report fixture's run, with the vLLM pooling server embedding 256 inputs in ``peer_seconds``."""
    found = results()
    family = found["embeddings"]
    family[vllm_embed_peer.NAME] = [summarize_units(vllm_embed_peer.NAME, LEVEL, [
        RequestRecord(start=0, end=peer_seconds, units=128), RequestRecord(start=0, end=peer_seconds, units=128)])]
    family["peer_ratios"] = {vllm_embed_peer.NAME: {LEVEL: (256 / 2.5) / (256 / peer_seconds)}}
    found["targets"] = report.targets(found)
    return found


def test_the_embeddings_tables_show_the_peer_and_the_platform_ratio_to_it() -> None:
    text = report.markdown(with_peer(2.0), None)
    assert "platform against bare sentence-transformers, vLLM pooling server (256 inputs)" in text
    assert "| load | bare inputs/s | vLLM pooling server inputs/s | platform inputs/s | platform / bare | " \
           "platform / vLLM pooling server |" in text
    assert "| 32 in/req, c=4 | 128 | 128 | 102 | 0.80 | 0.80 | 2000 / 2000 | 0 |" in text
    assert "vLLM pooling server" not in report.markdown(results(), None)
    named = with_peer(2.0)
    named["embeddings"]["engine"] = "vllm-pooling"
    assert "platform (its `vllm-pooling` engine) against bare sentence-transformers" in report.markdown(named, None)


def test_the_target_is_at_least_the_fastest_peer_server_at_every_level() -> None:
    targets = {str(t["target"]): t for t in with_peer(3.0)["targets"]}
    met = targets[f"embeddings inputs/s ratio to the fastest peer server, {LEVEL}"]
    assert met["value"] == pytest.approx(1.2) and met["met"] is True and met["goal"] == ">= 1"
    assert not any("peer server" in str(t["target"]) for t in results()["targets"])
    family = {"peer_ratios": {vllm_embed_peer.NAME: {LEVEL: 0.8, "1 in/req, c=16": math.nan}}}
    found = report.fastest_peer_ratios(family)
    assert found[LEVEL] == 0.8 and math.isnan(found["1 in/req, c=16"])
