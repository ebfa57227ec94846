from __future__ import annotations

from pathlib import Path

import pytest

from serve_app.catalog.cli import main
from serve_app.catalog.diff import diff_catalogs

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["catalog.cpu.yaml", "catalog.gpu.yaml"])
def test_validate_accepts_the_shipped_catalogs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / name)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_refuses_with_the_entry_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  - {id: a, family: F, engine: vllm, source: s, capabilities: [chat],\n"
                    "     context_length: 8,\n"
                    "     lifecycle: {deprecated_on: 2026-10-01, retires_on: 2026-11-01, replacement: a}}\n")
    assert main(["validate", str(path)]) == 1
    error = capsys.readouterr().err
    assert "model 'a': retires_on 2026-11-01 is only 31 days after deprecated_on 2026-10-01" in error


def test_validate_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "none.yaml")]) == 1
    assert "none.yaml" in capsys.readouterr().err


def test_diff_names_added_removed_and_changed_fields() -> None:
    running = {"models": [{"id": "a", "autoscaling": {"max_replicas": 1}}, {"id": "gone"}]}
    proposed = {"models": [{"id": "a", "autoscaling": {"max_replicas": 2}}, {"id": "new"}]}
    assert diff_catalogs(running, proposed) == ["+ new (added)", "- gone (removed)",
                                                "~ a: autoscaling.max_replicas: 1 -> 2"]
    assert diff_catalogs(proposed, proposed) == []


def test_serve_config_prints_the_config_that_carries_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    assert main(["serve-config", str(ROOT / "catalog.cpu.yaml"), "--app", "llmaas"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    (app,) = config["applications"]
    assert app["name"] == "llmaas" and app["import_path"] == "serve_app.app:build_app"
    assert [m["id"] for m in app["args"]["catalog"]["models"]][:1] == ["SmolLM2-135M-Instruct"]
    assert "ssl_certfile" not in config["http_options"]


def test_serve_config_refuses_an_invalid_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models: []\n")
    assert main(["serve-config", str(path)]) == 1
    assert "bad.yaml" in capsys.readouterr().err
