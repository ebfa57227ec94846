"""LlamaIndex's ``OpenAILike`` pointed at the platform, unmodified: a function-calling round trip (tool call, tool
result, final answer) and a streamed tool call. LlamaIndex runs from ``.venv-clients`` (``make test-clients``):
its pins cannot live beside vLLM's, and users' programs reach the platform over HTTP only anyway."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, Platform

pytestmark = pytest.mark.integration
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
SMOL = "SmolLM2-135M-Instruct"


def run_client(module: str, platform: Platform, api_key: str, model: str = SMOL,
               extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs ``module`` (a program of tests/clients) with the client frameworks' Python; what it printed last."""
    assert Path(CLIENTS_PYTHON).exists(), "the client frameworks' virtualenv is missing: run `make test-clients`"
    env = {**os.environ, "LLMAAS_BASE_URL": f"{platform.base_url}/v1", "LLMAAS_API_KEY": api_key,
           "LLMAAS_MODEL": model, **(extra or {})}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run([str(CLIENTS_PYTHON), "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_function_calling_round_trip_through_openai_like(platform: Platform, api_key: str) -> None:
    seen = run_client("tests.clients.llamaindex_round_trip", platform, api_key)
    calls = seen["calls"]
    assert isinstance(calls, list) and len(calls) == 1
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert isinstance(calls[0]["kwargs"]["city"], str) and calls[0]["kwargs"]["city"]
    assert seen["tool_results"] == [f"It is sunny and 21 degrees Celsius in {calls[0]['kwargs']['city']}."]
    assert isinstance(seen["final"], str) and seen["final"].strip()
    usage = seen["final_usage"]
    assert isinstance(usage, dict) and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    streamed = seen["streamed_calls"]
    assert isinstance(streamed, list) and len(streamed) == 1 and streamed[0]["name"] == "get_weather"
    assert isinstance(streamed[0]["kwargs"]["city"], str)
