"""What a catalog update changes: models added, removed, and each changed field, in plain lines."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flat(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def diff_catalogs(running: Mapping[str, Any], proposed: Mapping[str, Any]) -> list[str]:
    """Lines like ``+ model-a``, ``- model-b``, ``~ model-c: autoscaling.max_replicas: 1 -> 2``."""
    old = {model["id"]: model for model in running.get("models", [])}
    new = {model["id"]: model for model in proposed.get("models", [])}
    lines = [f"+ {model_id} (added)" for model_id in new if model_id not in old]
    lines += [f"- {model_id} (removed)" for model_id in old if model_id not in new]
    for model_id in (m for m in new if m in old):
        before, after = dict(_flat(old[model_id])), dict(_flat(new[model_id]))
        for field in sorted(before.keys() | after.keys()):
            if before.get(field) != after.get(field):
                lines.append(f"~ {model_id}: {field}: {before.get(field)!r} -> {after.get(field)!r}")
    return lines
