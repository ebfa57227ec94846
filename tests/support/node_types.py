"""The GPU clusters the project ships, as Ray cluster-launcher node types (``available_node_types``), so that one
sizing test packs the GPU catalog into each: deploy/aws/cluster.yaml as it is, and the KubeRay RayService's groups
(deploy/kubernetes/rayservice.yaml) as Ray sees their pods. The on-premises cluster.yaml has no node types (Ray's
local provider detects each machine's resources), so it is not among them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ray._private import ray_constants

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "deploy" / "aws" / "cluster.yaml"
RAYSERVICE = ROOT / "deploy" / "kubernetes" / "rayservice.yaml"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def aws() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(AWS.read_text())
    return config


def kuberay() -> dict[str, Any]:
    """The RayService's cluster as launcher node types: a pod's CPUs, GPUs and memory are its container's limits;
    Ray's ``memory`` resource is that less the object store, which takes at most 30% of it."""
    spec = yaml.safe_load(RAYSERVICE.read_text())["spec"]["rayClusterConfig"]
    head = spec["headGroupSpec"]
    types = {"head": {"resources": _resources(head["template"]["spec"]), "min_workers": 0, "max_workers": 0}}
    for group in spec["workerGroupSpecs"]:
        types[group["groupName"]] = {"resources": _resources(group["template"]["spec"]),
                                     "min_workers": group["minReplicas"], "max_workers": group["maxReplicas"]}
    return {"available_node_types": types, "head_node_type": "head",
            "max_workers": sum(t["max_workers"] for t in types.values())}


def _resources(pod: dict[str, Any]) -> dict[str, Any]:
    limits = pod["containers"][0]["resources"]["limits"]
    resources: dict[str, Any] = {"CPU": int(limits["cpu"]),
                                 "memory": int(quantity(limits["memory"])
                                               * (1 - ray_constants.DEFAULT_OBJECT_STORE_MEMORY_PROPORTION))}
    if limits.get("nvidia.com/gpu"):
        resources["GPU"] = int(limits["nvidia.com/gpu"])
        product = pod.get("nodeSelector", {}).get(GPU_PRODUCT_LABEL, "")
        resources["accelerator_type:" + product.removeprefix("NVIDIA-")] = 1
    return resources


def quantity(text: str | int) -> float:
    """A Kubernetes quantity of bytes (``120Gi``, ``64Mi``, ``1000``) as a number."""
    text = str(text)
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)
