"""Schemathesis against the real platform (Ray Serve, real engines), from the description it serves.

Bounded in time: a few examples per operation, generation kept small (``max_tokens`` 2, ``n`` at most 2,
a few prompts) so that no request asks the CPU engines for real work. Afterwards every model is still up
and no engine replica was replaced (none crashed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance

from serve_app.catalog import load_catalog
from serve_app.openapi import build_openapi
from tests.integration.conftest import ADMIN_TOKEN, APP_NAME, ROOT, Platform
from tests.support.hostile import check_answer, with_catalog_models

pytestmark = pytest.mark.integration

CATALOG = load_catalog(ROOT / "catalog.cpu.yaml")
TODAY = dt.datetime.now(dt.UTC).date()
SERVED = [entry for entry in CATALOG.models if entry.lifecycle.status(TODAY) not in ("retired", "preview")]
MODELS = {capability: [entry.id for entry in SERVED if capability in {c.value for c in entry.capabilities}]
          for capability in ("chat", "completions", "embeddings", "transcription")}
GENERATIVE = ("/v1/chat/completions", "/v1/completions")
# Maintenance windows would change what the status tests of the same session see; the unit run covers them.
# The console's pages are for browsers (refusals are pages in words): tests/*/test_console*.py cover them.
schema = schemathesis.openapi.from_dict(with_catalog_models(build_openapi(), MODELS)).exclude(
    path_regex="^/(admin/v1/maintenance|console)")
schema.config.generation.update(allow_extra_parameters=False)


def small(case: Case) -> None:
    """At most a few tokens of generation, whatever was generated (the engines run on 2 CPU cores)."""
    if case.path not in GENERATIVE or not isinstance(case.body, dict):
        return
    case.body["max_tokens"] = 2
    case.body.pop("max_completion_tokens", None)
    if isinstance(case.body.get("n"), int) and not isinstance(case.body["n"], bool):
        case.body["n"] = min(max(case.body["n"], 1), 2)
    for field in ("prompt", "messages"):
        if isinstance(case.body.get(field), list):
            case.body[field] = case.body[field][:3]


def openai_answer(ctx: Any, response: schemathesis.Response, case: Case) -> bool | None:
    check_answer(response.status_code, response.json() if response.status_code >= 400 else None)
    return None


def engine_replicas() -> set[str]:
    """The Serve replica actors of the models with a fixed replica count (autoscaled ones may change)."""
    fixed = {entry.deployment_name for entry in SERVED
             if entry.autoscaling.min_replicas == entry.autoscaling.max_replicas}
    return {actor["name"] for actor in ray.util.list_named_actors(all_namespaces=True)
            if actor["name"].startswith(f"SERVE_REPLICA::{APP_NAME}#")
            and actor["name"].split("#")[1] in fixed}


@pytest.fixture(scope="module")
def credentials(api_key: str) -> dict[str, dict[str, str]]:
    return {"apiKey": {"Authorization": f"Bearer {api_key}"},
            "adminToken": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}


@pytest.fixture(scope="module")
def replicas_before(platform: Platform) -> Iterator[set[str]]:
    before = engine_replicas()
    assert before, "no engine replica found"
    yield before


def test_the_platform_serves_the_description_under_test(platform: Platform) -> None:
    assert httpx.get(f"{platform.base_url}/openapi.json").json() == build_openapi()
    docs = httpx.get(f"{platform.base_url}/docs")
    assert docs.status_code == 200 and "/v1/chat/completions" in docs.text


@schema.parametrize()
@settings(max_examples=6, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_generated_requests_get_openai_answers(case: Case, platform: Platform, replicas_before: set[str],
                                               credentials: dict[str, dict[str, str]]) -> None:
    small(case)
    security = case.operation.definition.raw.get("security") or [{}]
    headers = next((credentials[name] for name in security[0] if name in credentials), {})
    case.call_and_validate(base_url=platform.base_url, headers=headers, timeout=120,
                           checks=[not_a_server_error, status_code_conformance, content_type_conformance],
                           additional_checks=[openai_answer])


@pytest.mark.parametrize("body", [
    {"model": "tiny-llama", "prompt": [[2_147_483_646]]},  # a token id beyond the vocabulary (was a 500)
    {"model": "tiny-llama", "prompt": "Hi", "stop": [""]},  # an empty stop sequence (was a 500)
])
def test_what_the_engine_refuses_is_a_400(platform: Platform, credentials: dict[str, dict[str, str]],
                                          body: dict[str, Any]) -> None:
    response = httpx.post(f"{platform.base_url}/v1/completions", json={**body, "max_tokens": 1},
                          headers=credentials["apiKey"], timeout=120)
    assert response.status_code == 400, response.text
    check_answer(response.status_code, response.json())


def test_every_model_is_still_up_and_no_replica_crashed(platform: Platform, replicas_before: set[str]) -> None:
    health = httpx.get(f"{platform.base_url}/health", timeout=60)
    assert health.status_code == 200, health.text
    assert engine_replicas() == replicas_before
