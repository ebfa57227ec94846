"""``build_app``: Serve's import path. Builds the application from the catalog.

    serve run serve_app.app:build_app            # catalog from LLMAAS_CATALOG (default catalog.cpu.yaml)
    serve run serve_app.app:build_app catalog=catalog.cpu.yaml
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, cast

import ray
from ray import serve
from ray.serve import Application
from ray.serve.deployment import Deployment

from deployments.embeddings_engine import EmbeddingDeployment
from deployments.vllm_embeddings_engine import VLLMEmbeddingDeployment
from deployments.vllm_engine import VLLMDeployment
from deployments.whisper_engine import WhisperDeployment
from serve_app import tls
from serve_app.catalog import Catalog, ModelEntry, load_catalog
from serve_app.catalog.schema import catalog_document
from serve_app.ingress import Ingress
from serve_app.ray_env import use_serve_env
from serve_app.settings import Settings
from serve_app.status.prober import StatusProber
from serve_app.status.probes import ProbeTarget
from serve_app.telemetry import NO_TELEMETRY_ENV, platform_env


def _model_deployment(entry: ModelEntry, settings: Settings) -> Application:
    scaling = entry.autoscaling
    actor_options: dict[str, Any] = {
        "num_cpus": entry.resources.num_cpus,
        "num_gpus": entry.resources.num_gpus,
        # The platform's environment (telemetry off, TLS 1.3) wins over the catalog's engine_env.
        "runtime_env": {"env_vars": {**entry.engine_env, **platform_env(settings)}},
    }
    if entry.resources.memory_gb:
        actor_options["memory"] = int(entry.resources.memory_gb * 1024**3)
    # Serve replaces a replica after 3 failed checks in a row: a hung engine is out within about
    # engine_stall_seconds + 3 periods (see deployments/watchdog.py).
    options: dict[str, Any] = {"name": entry.deployment_name, "ray_actor_options": actor_options,
                               "health_check_period_s": settings.engine_health_check_period_seconds,
                               "health_check_timeout_s": settings.engine_health_check_timeout_seconds}
    parallel = entry.resources.tensor_parallel_size
    if parallel > 1:
        # The replica holds no GPU itself; its engine's workers take one GPU bundle each, on one node.
        actor_options["num_gpus"] = 0
        options["placement_group_bundles"] = [{"CPU": entry.resources.num_cpus}] + [{"GPU": 1, "CPU": 1}] * parallel
        options["placement_group_strategy"] = "STRICT_PACK"
    if scaling.min_replicas == scaling.max_replicas:
        options["num_replicas"] = scaling.min_replicas
    else:
        options["autoscaling_config"] = {
            "min_replicas": scaling.min_replicas,
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
        }
    # Replicas get only what they run (not prices or lifecycle dates), so that a catalog update that
    # changes only those leaves them running; autoscaling bounds are options, updated in place.
    return _deployment_class(entry.engine).options(**options).bind(entry.engine_spec(), settings.engine_stall_seconds)


def _deployment_class(engine: str) -> Deployment:
    """The Serve deployment that runs an engine family (imports are light: engines load in replicas)."""
    if engine == "vllm":
        return cast(Deployment, VLLMDeployment)
    if engine == "faster-whisper":
        return cast(Deployment, WhisperDeployment)
    if engine == "sentence-transformers":
        return cast(Deployment, EmbeddingDeployment)
    if engine == "vllm-pooling":
        return cast(Deployment, VLLMEmbeddingDeployment)
    raise ValueError(f"no deployment for engine {engine!r}")


def build_app_from(settings: Settings, catalog: Catalog) -> Application:
    """The ingress and one deployment per model; retired models get none (the ingress answers 410)."""
    catalog = catalog.with_sources_under(settings.models_dir)
    today = dt.datetime.now(dt.UTC).date()
    served = [entry for entry in catalog.models if entry.lifecycle.status(today) != "retired"]
    handles = {entry.id: _model_deployment(entry, settings) for entry in served}
    ingress = cast(Deployment, Ingress).options(num_replicas=settings.ingress_replicas,
                                                ray_actor_options=_with_platform_env(Ingress, settings))
    prober = _status_prober(settings, served) if settings.status_prober else None
    return ingress.bind(settings, catalog, handles, prober)


def _status_prober(settings: Settings, served: list[ModelEntry]) -> Application:
    """One prober for the cluster; it gets only its targets, so price or date changes leave it running."""
    today = dt.datetime.now(dt.UTC).date()
    targets = [ProbeTarget.for_entry(entry) for entry in served if entry.lifecycle.status(today) != "preview"]
    prober = cast(Deployment, StatusProber)
    return prober.options(ray_actor_options=_with_platform_env(prober, settings)).bind(settings, targets)


def _with_platform_env(deployment: object, settings: Settings) -> dict[str, Any]:
    """The deployment's own actor options, its replicas started with the platform's environment."""
    options = dict(cast(Deployment, deployment).ray_actor_options or {})
    options["runtime_env"] = {"env_vars": platform_env(settings)}
    return options


def start_serve(settings: Settings) -> None:
    """Prepares Ray and Serve as the platform needs them, before ``serve run`` (or ``catalog apply``) would.

    Usage statistics and telemetry go off, and Serve's settings (``serve_app.ray_env``) go in, in this
    process's environment, so that a local cluster started from it inherits them (the deployments also
    carry the telemetry settings in their own environment). When Serve's HTTP options are not its defaults
    (TLS on, or ``LLMAAS_HTTP_HOST`` / ``LLMAAS_HTTP_PORT`` set), Serve is started here with them (``serve
    run`` passes no HTTP options of its own), Ray as ``serve run`` starts it, and Serve's controller with the
    platform's environment, which the proxies it starts inherit; an already running Serve keeps its options.
    """
    os.environ.update(NO_TELEMETRY_ENV)
    use_serve_env()
    options = {**tls.http_options(settings), **_address_options(settings)}
    if not options:
        return
    if not ray.is_initialized():
        ray.init(namespace="serve")
    serve.start(http_options=options, controller_options={"runtime_env": {"env_vars": platform_env(settings)}})
    client = serve.context._get_global_client()
    running = client.http_config if client is not None else None
    tls.check_applied(settings, running.ssl_certfile if running else None, running.ssl_keyfile if running else None)


def _address_options(settings: Settings) -> dict[str, Any]:
    defaults = Settings()
    if (settings.http_host, settings.http_port) == (defaults.http_host, defaults.http_port):
        return {}
    return {"host": settings.http_host, "port": settings.http_port}


def build_app(args: dict[str, Any] | None = None) -> Application:
    """The Serve application. ``args`` (from ``serve run ... key=value``) may name another ``catalog`` file; in a
    Serve config (``python -m serve_app.catalog serve-config``) ``catalog`` is the catalog document itself."""
    settings = Settings.from_env()
    catalog = (args or {}).get("catalog")
    if isinstance(catalog, str) and catalog:
        settings = settings.model_copy(update={"catalog": Path(catalog)})
    settings = settings.resolved()
    start_serve(settings)
    if isinstance(catalog, dict):
        return build_app_from(settings, Catalog.model_validate(catalog_document(catalog)))
    return build_app_from(settings, load_catalog(settings.catalog))
