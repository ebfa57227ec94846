"""The chat peers of ``python -m benchmarks``: their configuration from the catalog entry, and their place in the
tables and the targets (no peer is started here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmarks import cpu, litellm_peer, rayllm_peer, report, run
from benchmarks.stats import compare
from serve_app.catalog import ModelEntry, load_catalog
from tests.unit.test_benchmarks_report import chat_level, results

ROOT = Path(__file__).resolve().parents[2]


def chat_entry(catalog: str = "catalog.cpu.yaml", model: str = "SmolLM2-135M-Instruct") -> ModelEntry:
    found = load_catalog(ROOT / catalog).get(model)
    assert found is not None
    return found


def test_litellm_fronts_the_bare_server_with_the_hosted_vllm_provider_and_a_key_hook() -> None:
    found = yaml.safe_load(litellm_peer.config("m", "http://127.0.0.1:9", "sk-master"))
    (model,) = found["model_list"]
    assert model["model_name"] == "m"
    assert model["litellm_params"] == {"model": "hosted_vllm/m", "api_base": "http://127.0.0.1:9/v1", "api_key": "none"}
    assert found["general_settings"]["master_key"] == "sk-master"
    assert found["general_settings"]["custom_auth"] == "bench_auth.user_api_key_auth"
    assert found["general_settings"]["custom_auth_run_common_checks"] is True


def test_litellm_key_hook_carries_a_budget_and_rate_limits() -> None:
    source = litellm_peer.AUTH_MODULE.format(key="sk-x", budget=5.0, rpm=10, tpm=20)
    compile(source, "bench_auth.py", "exec")
    assert "max_budget=5.0" in source and "rpm_limit=10" in source and "tpm_limit=20" in source
    assert "KEY = 'sk-x'" in source


def test_ray_serve_llm_gets_the_catalog_entry_folder_engine_arguments_environment_and_cpu_placement() -> None:
    entry = chat_entry()
    found = rayllm_peer.llm_config(entry, Path("/models"))
    assert found["model_loading_config"] == {"model_id": entry.id, "model_source": f"/models/{entry.source}"}
    assert found["engine_kwargs"] == {**entry.engine_args, "max_model_len": entry.context_length}
    assert found["runtime_env"] == {"env_vars": entry.engine_env}
    assert found["placement_group_config"] == {"bundles": [{"CPU": entry.resources.num_cpus}]}
    assert found["deployment_config"]["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 1}


def test_ray_serve_llm_on_the_gpu_catalog_gets_one_gpu_bundle_per_tensor_parallel_rank() -> None:
    catalog = load_catalog(ROOT / "catalog.gpu.yaml")
    entry = next(model for model in catalog.models if model.engine == "vllm" and model.resources.num_gpus)
    found = rayllm_peer.llm_config(entry, Path("/models"))
    parallel = entry.resources.tensor_parallel_size
    assert found["placement_group_config"] == {"bundles": [{"GPU": 1, "CPU": 1}] * parallel}
    assert found["engine_kwargs"]["tensor_parallel_size"] == parallel


def test_finding_ray_serve_llm_does_not_import_ray_serve() -> None:
    """Ray Serve reads its settings (direct ingress) when first imported: the harness sets them later."""
    import subprocess
    import sys

    script = ("import sys; from benchmarks import run, rayllm_peer; "
              "print(rayllm_peer.available(), 'ray.serve' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert found.stdout.split() == ["True", "False"]


def test_peers_default_to_those_installed_and_can_be_turned_off() -> None:
    assert set(run.arguments([]).peers) <= set(run.PEERS)
    assert run.arguments(["--peers"]).peers == []
    assert run.arguments(["--peers", "rayllm"]).peers == ["rayllm"]


def test_peer_processes_are_grouped_as_their_own_parts() -> None:
    assert cpu.group("VLLM::Worker", ours=True) == "vLLM worker"
    assert cpu.group("/w/.venv-litellm/bin/python /w/.venv-litellm/bin/litellm --config c", ours=True) == \
        "LiteLLM proxy"
    assert cpu.group("ray::ServeReplica:rayllm:OpenAiIngress", ours=True) == "Ray Serve LLM ingress"
    assert cpu.group("ray::ServeReplica:rayllm:LLMServer:SmolLM2-135M-Instruct", ours=True) == \
        "Ray Serve LLM server replica"


def with_peers() -> dict[str, Any]:
    found = results()
    chat = found["chat"]
    chat["litellm"] = [chat_level("litellm", "c=1", 0.090, 0.032), chat_level("litellm", "c=16", 0.500, 0.100)]
    chat["rayllm"] = [chat_level("rayllm", "c=1", 0.130, 0.031), chat_level("rayllm", "c=16", 0.380, 0.076)]
    chat["peer_ratios"] = {peer: {theirs["load"]: compare(theirs, ours)
                                  for theirs, ours in zip(chat[peer], chat["platform"], strict=True)}
                           for peer in ("litellm", "rayllm")}
    found["targets"] = report.targets(found)
    return found


def test_every_system_has_a_row_per_level_in_the_order_bare_peers_platform() -> None:
    text = report.markdown(with_peers(), None)
    rows = [line.split(" | ")[1] for line in text.splitlines() if line.startswith("| c=1 | ") and line.count("|") == 10]
    assert rows == ["bare vLLM", "LiteLLM proxy", "Ray Serve LLM", "platform"]
    assert "platform against bare vLLM, LiteLLM proxy, Ray Serve LLM" in text


def test_the_peer_table_gives_the_platform_ratio_to_each_peer() -> None:
    text = report.markdown(with_peers(), None)
    assert "| platform / bare vLLM | platform / LiteLLM proxy (tok/s ratio / TTFT p50 added) |" in text
    # c=16: the platform streams faster than LiteLLM's proxy with a first token 100 ms earlier, slower than Ray's
    assert "| c=16 | 10.4 | 9.09 | 9.84 | 9.71 | 0.93 | 1.07 / -100.0 ms | 0.99 / +20.0 ms |" in text
    plain = report.markdown(results(), None)
    assert "Against the peers" not in plain and "platform against bare vLLM\n" in plain


def test_targets_ask_at_least_the_peers_throughput_at_every_level() -> None:
    targets = {str(t["target"]): t for t in with_peers()["targets"]}
    assert targets["streaming output tok/s ratio to LiteLLM proxy at c=16"]["met"] is True
    assert targets["streaming output tok/s ratio to Ray Serve LLM at c=16"]["met"] is False
    assert targets["streaming output tok/s ratio to Ray Serve LLM at c=1"]["goal"] == ">= 1"
    assert not any("LiteLLM" in name for name in {str(t["target"]) for t in results()["targets"]})
