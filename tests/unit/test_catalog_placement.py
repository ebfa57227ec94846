"""The CPU catalog is placed whole on the smallest machine the README names, the way `make serve` starts Ray.

`make serve` runs `serve run serve_app.app:build_app`, which starts a local Ray cluster with the machine's own
CPU count (2 on the README's machine) and no logical CPUs of its own. Every replica of the application, at its
autoscaling maximum, and the metering actor must fit in those CPUs, or a model waits forever to be scheduled
and /health stays 503.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray.serve._private.build_app import build_app

from serve_app.app import build_app_from, start_serve
from serve_app.catalog import load_catalog
from serve_app.governance.meter import ACTOR_CPUS
from serve_app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README_MACHINE_CPUS = 2
RAY_DEFAULT_ACTOR_CPUS = 1.0  # what Ray reserves for a replica whose options name no num_cpus


def reserved_cpus(deployment: Any) -> float:
    """CPUs a deployment reserves with every replica it may scale to."""
    config = deployment._deployment_config
    replicas = config.autoscaling_config.max_replicas if config.autoscaling_config else config.num_replicas
    bundles = deployment._replica_config.placement_group_bundles or []
    if bundles:
        per_replica = sum(float(bundle.get("CPU", 0)) for bundle in bundles)
    else:
        per_replica = float((deployment.ray_actor_options or {}).get("num_cpus", RAY_DEFAULT_ACTOR_CPUS))
    return float(replicas) * per_replica


def application_cpus(settings: Settings) -> dict[str, float]:
    catalog = load_catalog(settings.catalog)
    built = build_app(build_app_from(settings, catalog), name="default")
    return {deployment.name: reserved_cpus(deployment) for deployment in built.deployments}


def test_make_serve_leaves_ray_the_machines_own_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the defaults `make serve` runs with, the platform starts no Ray of its own: `serve run` starts it
    with the machine's CPU count, and no setting hands it a logical count the machine does not have."""
    started: list[object] = []
    monkeypatch.setattr("ray.init", lambda *args, **kwargs: started.append((args, kwargs)))
    monkeypatch.setattr("ray.serve.start", lambda *args, **kwargs: started.append((args, kwargs)))
    start_serve(Settings.from_env({}).resolved(ROOT))
    assert started == []


def test_the_cpu_catalog_fits_on_two_cpus_at_its_autoscaling_maximum() -> None:
    settings = Settings.from_env({}).resolved(ROOT)  # what `make serve` reads with no LLMAAS_ variable set
    cpus = application_cpus(settings)
    served = {deployment for deployment in cpus if deployment.startswith("model-")}
    assert len(served) == len(load_catalog(settings.catalog).models)  # every model is counted
    total = sum(cpus.values()) + ACTOR_CPUS
    assert total <= README_MACHINE_CPUS, f"{total} CPUs reserved on a {README_MACHINE_CPUS}-CPU machine: {cpus}"


def test_the_check_counts_every_replica_a_model_may_scale_to(tmp_path: Path) -> None:
    """The check above can fail: one more embeddings replica at 0.5 CPU no longer fits."""
    text = (ROOT / "catalog.cpu.yaml").read_text()
    grown = text.replace("autoscaling: {min_replicas: 1, max_replicas: 2, target_ongoing_requests: 4}\n"
                         "    resources: {num_cpus: 0.25}",
                         "autoscaling: {min_replicas: 1, max_replicas: 2, target_ongoing_requests: 4}\n"
                         "    resources: {num_cpus: 0.5}")
    assert grown != text
    (tmp_path / "catalog.yaml").write_text(grown)
    settings = Settings.from_env({}).resolved(ROOT).model_copy(update={"catalog": tmp_path / "catalog.yaml"})
    assert sum(application_cpus(settings).values()) > README_MACHINE_CPUS
