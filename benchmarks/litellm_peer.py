"""LiteLLM's proxy in front of bare vLLM's OpenAI server: a peer in ``python -m benchmarks``.

It runs from its own virtualenv (``make bench-peers`` builds ``.venv-litellm`` from requirements/litellm.lock),
configured as its users usually run it in front of vLLM: the ``hosted_vllm/`` provider, a master key, and a key
per application carrying a budget and rpm/tpm limits, so that every request goes through its key check, budget
checks, rate limiter and cost tracking.

Its keys normally live in PostgreSQL through Prisma, whose query engine is a binary that Prisma downloads from
its own host at first use; this machine reaches package registries only, so ``/key/generate`` cannot work here.
The key is given instead by LiteLLM's documented ``custom_auth`` hook, with the same budget and limits a virtual
key would carry (``custom_auth_run_common_checks`` on: LiteLLM then runs its usual key checks on it); what is
left out is Prisma's spend writes, which LiteLLM batches in the background every minute.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.servers import free_port, stop, wait_ready

VENV = ".venv-litellm"
KEY_BUDGET_USD = 1000.0
KEY_RPM = 100_000  # limits on, high enough that the measured load never reaches them
KEY_TPM = 100_000_000

AUTH_MODULE = '''"""The benchmark's key, as LiteLLM's custom_auth hook (written by benchmarks/litellm_peer.py)."""
from litellm.proxy._types import UserAPIKeyAuth
from fastapi import HTTPException

KEY = {key!r}


async def user_api_key_auth(request, api_key):
    if api_key != KEY:
        raise HTTPException(status_code=401, detail="invalid key")
    return UserAPIKeyAuth(api_key=KEY, token=KEY, key_alias="bench", max_budget={budget!r}, spend=0.0,
                          rpm_limit={rpm!r}, tpm_limit={tpm!r}, budget_duration="30d")
'''


def available(root: Path) -> bool:
    return (root / VENV / "bin" / "litellm").exists()


def config(model_id: str, upstream_url: str, master_key: str) -> str:
    """The proxy's config.yaml: one model, vLLM's OpenAI server behind it."""
    return "\n".join([
        "model_list:",
        f"  - model_name: {model_id}",
        "    litellm_params:",
        f"      model: hosted_vllm/{model_id}",
        f"      api_base: {upstream_url}/v1",
        "      api_key: none",
        "general_settings:",
        f"  master_key: {master_key}",
        "  custom_auth: bench_auth.user_api_key_auth",
        "  custom_auth_run_common_checks: true",
        "litellm_settings:",
        "  telemetry: false",
        "  turn_off_message_logging: true",
        "",
    ])


@contextmanager
def proxy(root: Path, model_id: str, upstream_url: str) -> Iterator[tuple[str, str]]:
    """LiteLLM's proxy on a free port in front of ``upstream_url``; yields its base URL and the key to use."""
    key = "sk-bench-" + secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="llmaas-litellm-") as folder:
        work = Path(folder)
        (work / "config.yaml").write_text(config(model_id, upstream_url, "sk-master-" + secrets.token_urlsafe(16)))
        (work / "bench_auth.py").write_text(AUTH_MODULE.format(key=key, budget=KEY_BUDGET_USD, rpm=KEY_RPM,
                                                               tpm=KEY_TPM))
        port = free_port()
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
               "LITELLM_LOG": "ERROR", "PYTHONPATH": folder}
        env.pop("DATABASE_URL", None)
        process = subprocess.Popen([str(root / VENV / "bin" / "litellm"), "--config", str(work / "config.yaml"),
                                    "--host", "127.0.0.1", "--port", str(port)], cwd=folder, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/health/liveliness")
            yield f"http://127.0.0.1:{port}", key
        finally:
            stop(process)
