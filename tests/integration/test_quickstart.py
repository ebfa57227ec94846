"""The README's quick start, run as it is written: the session's platform is `make serve` (conftest.py); a key
from the README's `make key` and `curl` blocks; the README's Python example with the `openai` package.

The blocks are read from the README, not copied: the README and this test cannot drift apart. Only the
address changes (the session serves on a free port, not 8000) and the key the example uses.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.integration.conftest import ADMIN_TOKEN, ROOT, SERVE_COMMAND, Platform, wait_until_healthy

pytestmark = pytest.mark.integration
README_URL = "http://127.0.0.1:8000"
SECRET = re.compile(r"sk-[A-Za-z0-9_-]{20,}")


def quick_start_blocks() -> list[tuple[str, str]]:
    """The quick start's fenced code blocks, as (language, code)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [(language, code) for language, code in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)]


def bash_block(containing: str) -> str:
    (block,) = [code for language, code in quick_start_blocks() if language == "bash" and containing in code]
    return block


def run_bash(block: str, platform: Platform) -> str:
    env = {**os.environ, "LLMAAS_ADMIN_TOKEN": ADMIN_TOKEN, "LLMAAS_HTTP_PORT": platform.env["LLMAAS_HTTP_PORT"]}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.replace(README_URL, platform.base_url)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_session_platform_is_the_quick_starts_make_serve(platform: Platform) -> None:
    first = bash_block("make serve")
    commands = [line.split("#")[0].strip() for line in first.splitlines()]
    assert " ".join(SERVE_COMMAND) in commands
    assert any(command.startswith("export LLMAAS_ADMIN_TOKEN=") for command in commands)
    banner = f"OpenAI-compatible API  {platform.base_url}/v1"  # what `make serve` prints once healthy
    deadline = time.monotonic() + 30  # it polls /health every 2 s
    while banner not in platform.log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.5)
    log = platform.log.read_text(errors="replace")
    assert f"OpenAI-compatible API  {platform.base_url}/v1" in log  # what `make serve` prints once healthy
    assert f"{platform.base_url}/docs" in log and f"{platform.base_url}/status" in log
    assert "make key NAME=my-app" in log


def test_health_answers_at_once(platform: Platform) -> None:
    # An earlier test restarted the app (test_platform.py): /health rightly reports a major outage until the
    # status probes that failed during the restart are followed by one that passes.
    wait_until_healthy(platform.base_url)
    for _ in range(5):
        response = httpx.get(f"{platform.base_url}/health", timeout=1.0)  # a bound against stalls
        assert response.status_code == 200 and set(response.json()["models"].values()) == {"up"}, response.text


@pytest.mark.parametrize("way", ["make key", "curl"])
def test_the_readme_example_answers_with_a_key_made_the_readme_way(platform: Platform, way: str) -> None:
    printed = run_bash(bash_block(way), platform)
    secrets = SECRET.findall(printed)
    assert secrets, printed
    (example,) = [code for language, code in quick_start_blocks() if language == "python"]
    assert 'api_key="sk-..."' in example and README_URL in example
    script = example.replace('api_key="sk-..."', f'api_key="{secrets[0]}"').replace(README_URL, platform.base_url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    answered, usage, joke = re.split(r"(CompletionUsage\(.*?\))", done.stdout, maxsplit=1, flags=re.DOTALL)
    assert answered.strip() and "prompt_tokens=" in usage
    assert joke.strip()  # the streamed answer
