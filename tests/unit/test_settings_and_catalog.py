from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from serve_app.catalog import Capability, load_catalog
from serve_app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_settings_come_from_llmaas_variables() -> None:
    settings = Settings.from_env({"LLMAAS_DATA_DIR": "/srv/data", "LLMAAS_ADMIN_TOKEN": "t",
                                  "LLMAAS_MAX_BODY_BYTES": "10", "OTHER": "x"})
    assert settings.data_dir == Path("/srv/data")
    assert settings.admin_token == "t"
    assert settings.max_body_bytes == 10


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings.from_env({"LLMAAS_MAX_BODY_BYTES": "lots"})


def test_resolved_paths_are_absolute(tmp_path: Path) -> None:
    resolved = Settings().resolved(tmp_path)
    assert resolved.data_dir == tmp_path / ".data"
    assert resolved.catalog.is_absolute()


def test_the_cpu_catalog_validates() -> None:
    catalog = load_catalog(ROOT / "catalog.cpu.yaml")
    smol = catalog.get("SmolLM2-135M-Instruct")
    assert smol is not None and smol.supports(Capability.CHAT)
    assert catalog.get("tiny-llama") is not None


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    entry = "{id: a, family: F, engine: vllm, source: s, capabilities: [chat], context_length: 8}"
    path = tmp_path / "catalog.yaml"
    path.write_text(f"models: [{entry}, {entry}]")
    with pytest.raises(ValidationError, match="duplicate model id 'a'"):
        load_catalog(path)


def test_autoscaling_bounds_must_be_ordered(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("models: [{id: a, family: F, engine: vllm, source: s, capabilities: [chat], "
                    "context_length: 8, autoscaling: {min_replicas: 3, max_replicas: 1}}]")
    with pytest.raises(ValidationError, match="min_replicas"):
        load_catalog(path)
