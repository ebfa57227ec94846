"""Client frameworks that cannot be installed beside vLLM, run as users run them: programs of tests/clients, each
with the Python of its own virtualenv (``make test-clients``), talking to the platform over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.integration.conftest import Platform

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
AGENTS_PYTHON = ROOT / ".venv-agents" / "bin" / "python"
SMOL = "SmolLM2-135M-Instruct"


def run_client(module: str, platform: Platform, api_key: str, model: str = SMOL,
               extra: dict[str, str] | None = None, python: Path = CLIENTS_PYTHON) -> dict[str, Any]:
    """Runs ``module`` (a program of tests/clients) with a client virtualenv's Python; what it printed last."""
    assert python.exists(), "the client frameworks' virtualenvs are missing: run `make test-clients`"
    env = {**os.environ, "LLMAAS_BASE_URL": f"{platform.base_url}/v1", "LLMAAS_API_KEY": api_key,
           "LLMAAS_MODEL": model, **(extra or {})}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run([str(python), "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
