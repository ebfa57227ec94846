"""The Ray cluster-launcher configs: the on-premises cluster.yaml (the default, Ray's `local` provider) and the cloud
example deploy/aws/cluster.yaml, both valid against Ray's own schema and as Ray's launcher prepares them."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from serve_app.ray_env import REQUIRED_SERVE_ENV, SERVE_ENV
from tests.support import node_types

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "cluster.yaml", node_types.AWS]


def _load(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_cluster_configs_are_valid_against_rays_schema(path: Path) -> None:
    config = _load(path)
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(config))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_ray_starts_with_telemetry_off_and_the_platforms_serve_settings(path: Path) -> None:
    config = _load(path)
    head = " ".join(config["head_start_ray_commands"])
    for name, value in {**SERVE_ENV, **REQUIRED_SERVE_ENV}.items():
        assert f"{name}={value}" in head
    for commands in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        start = " ".join(commands)
        assert "RAY_USAGE_STATS_ENABLED=0" in start and "--disable-usage-stats" in start
        assert all(f"{name}={value}" in start for name, value in REQUIRED_SERVE_ENV.items())
    assert 'pip install -e ".[gpu]"' in " ".join(config["setup_commands"])
    assert config["file_mounts"] == {"~/llmaas": "."}


def test_the_aws_example_has_a_cpu_head_and_gpu_worker_types() -> None:
    config = _load(node_types.AWS)
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"].get("GPU") is None
    assert [t for t in types.values() if t["resources"].get("GPU")]


def test_the_on_premises_cluster_names_its_machines_and_keeps_them_all() -> None:
    config = _load(ROOT / "cluster.yaml")
    provider = config["provider"]
    assert provider["type"] == "local" and "available_node_types" not in config  # Ray's local provider refuses them
    workers = [ipaddress.ip_address(address) for address in provider["worker_ips"]]
    head = ipaddress.ip_address(provider["head_ip"])
    assert len(set(workers)) == len(workers) and head not in workers
    assert all(address.is_private for address in [head, *workers])  # the operator's own network
    prepared = prepare_config(config)
    (node_type,) = prepared["available_node_types"].values()
    assert node_type["min_workers"] == node_type["max_workers"] == len(workers)  # machines are not rented
    # The reference set of machines is the AWS example's floor: its node types at min_workers.
    aws = _load(node_types.AWS)["available_node_types"]
    assert len(workers) == sum(t.get("min_workers", 0) for t in aws.values())
