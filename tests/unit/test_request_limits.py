"""Limits against model exploitation: max_tokens per tier, n, prompt size, open streams per key, timeouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from starlette.testclient import TestClient

from deployments.llm_protocol import GenerationChunk, GenerationRequest
from serve_app.catalog import Catalog
from serve_app.catalog.schema import Pricing
from serve_app.errors import RateLimitError, ServiceUnavailableError
from serve_app.governance.admission import Governance, Usage
from serve_app.governance.leases import LeasedMeter
from serve_app.governance.meter import MeterCore
from serve_app.governance.quotas import Quotas, load_tiers
from serve_app.governance.reporter import UsageReporter
from serve_app.guardrails import PromptGuard
from serve_app.ingress import build_asgi_app
from serve_app.keys import ApiKey
from serve_app.openapi import build_openapi
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN, ROOT
from tests.fakes import FakeEngine
from tests.unit.test_guard_policy import ledger_rows, new_key

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def chat(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/chat/completions", headers=auth, json={"model": "fake-chat", "messages": QUESTION, **body})


def error_of(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_max_tokens_above_the_keys_cap_is_refused_and_none_is_capped(client: TestClient, engine: FakeEngine) -> None:
    _, auth = new_key(client, quotas={"max_tokens_per_request": 3})
    for field in ("max_tokens", "max_completion_tokens"):
        error = error_of(chat(client, auth, **{field: 4}))
        assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", field,
                                                                  "integer_above_max_value")
        assert "at most 3" in error["message"]
    assert chat(client, auth, max_tokens=3).status_code == 200
    capped = chat(client, auth)
    assert capped.status_code == 200
    assert engine.requests[-1].sampling.max_tokens == 3
    assert capped.json()["choices"][0]["finish_reason"] == "length"
    assert capped.json()["usage"]["completion_tokens"] == 3
    completion = client.post("/v1/completions", headers=auth, json={"model": "fake-chat", "prompt": "a b"})
    assert completion.status_code == 200 and engine.requests[-1].sampling.max_tokens == 3  # OpenAI's 16, capped
    assert error_of(client.post("/v1/completions", headers=auth, json={"model": "fake-chat", "prompt": "a",
                                                                       "max_tokens": 16}))["param"] == "max_tokens"


def test_a_cap_left_implicit_gives_way_to_the_room_the_context_leaves(client: TestClient, engine: FakeEngine) -> None:
    """The stand-in's context is 64 tokens: a 57-word prompt leaves less room than a cap of 10."""
    _, auth = new_key(client, quotas={"max_tokens_per_request": 10})
    long_question = [{"role": "user", "content": " ".join(["word"] * 57)}]
    answer = chat(client, auth, messages=long_question)
    assert answer.status_code == 200, answer.text
    assert [r.sampling.max_tokens for r in engine.requests] == [10, None]
    assert answer.json()["usage"]["completion_tokens"] <= 10
    asked = chat(client, auth, messages=long_question, max_tokens=10)  # asked for explicitly: the engine's 400
    assert error_of(asked)["code"] == "context_length_exceeded"
    _, roomy = new_key(client, quotas={"max_tokens_per_request": 64})  # no smaller than the context: no cap to send
    assert chat(client, roomy).status_code == 200 and engine.requests[-1].sampling.max_tokens is None


def test_shipped_tiers_cap_max_tokens_and_streams() -> None:
    tiers = load_tiers(ROOT / "tiers.yaml").tiers
    assert all(tiers[name].max_tokens_per_request and tiers[name].max_concurrent_streams
               for name in ("free", "starter", "business", "enterprise"))
    assert tiers["unlimited"].max_tokens_per_request is None


def test_n_above_the_platforms_limit_is_refused(client: TestClient, settings: Settings) -> None:
    _, auth = new_key(client)
    assert chat(client, auth, n=settings.max_n, max_tokens=1).status_code == 200
    error = error_of(chat(client, auth, n=settings.max_n + 1))
    assert (error["param"], error["code"]) == ("n", "integer_above_max_value")
    assert str(settings.max_n) in error["message"]
    completions = client.post("/v1/completions", headers=auth, json={"model": "fake-chat", "prompt": "a",
                                                                      "n": settings.max_n + 1})
    assert error_of(completions)["param"] == "n"


@pytest.fixture
def small(settings: Settings, catalog: Catalog, engine: FakeEngine, prompt_guard: PromptGuard) -> Iterator[TestClient]:
    """The ingress with small limits: 100 characters of prompt, a 0.2 s timeout."""
    tight = settings.model_copy(update={"max_prompt_chars": 100, "request_timeout_seconds": 0.2})
    app = build_asgi_app(tight, catalog, {"fake-chat": engine}, MeterCore(tight), guard=prompt_guard)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_prompts_over_the_size_limit_are_refused_before_any_engine(small: TestClient, engine: FakeEngine) -> None:
    _, auth = new_key(small)
    assert chat(small, auth, messages=[{"role": "user", "content": "x" * 100}], max_tokens=1).status_code == 200
    too_long = [{"role": "system", "content": "x" * 60}, {"role": "user", "content": [{"type": "text",
                                                                                       "text": "y" * 41}]}]
    error = error_of(chat(small, auth, messages=too_long))
    assert (error["param"], error["code"]) == ("messages", "context_length_exceeded")
    assert "101 characters" in error["message"]
    prompts = small.post("/v1/completions", headers=auth, json={"model": "fake-chat", "prompt": ["x" * 50] * 3})
    assert (error_of(prompts)["param"], error_of(prompts)["code"]) == ("prompt", "context_length_exceeded")
    tokens = small.post("/v1/completions", headers=auth, json={"model": "fake-chat", "prompt": list(range(64))})
    assert (error_of(tokens)["param"], error_of(tokens)["code"]) == ("prompt", "context_length_exceeded")
    assert len(engine.requests) == 1


class Hangs(FakeEngine):
    """Sends one token, then nothing more, ever."""

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        async for chunk in super().generate(request):
            yield chunk
            await asyncio.Event().wait()


def test_a_request_over_the_timeout_is_a_504_and_is_metered(settings: Settings, catalog: Catalog,
                                                            prompt_guard: PromptGuard) -> None:
    tight = settings.model_copy(update={"request_timeout_seconds": 0.2})
    app = build_asgi_app(tight, catalog, {"fake-chat": Hangs()}, MeterCore(tight), guard=prompt_guard)
    with TestClient(app, raise_server_exceptions=False) as client:
        key_id, auth = new_key(client)
        answer = chat(client, auth)
        error = error_of(answer, 504)
        assert (error["type"], error["code"]) == ("server_error", "timeout")
        assert "0.2 seconds" in error["message"]
        assert answer.headers["x-should-retry"] == "false"  # the SDK would otherwise retry a 5xx
        rows = ledger_rows(tight, key_id, 1)
        assert rows == [{"outcome": "cancelled", "prompt_tokens": 6, "completion_tokens": 1}]


async def test_the_sdk_sees_a_504_timeout_without_retrying(settings: Settings, catalog: Catalog,
                                                           prompt_guard: PromptGuard) -> None:
    import httpx
    tight = settings.model_copy(update={"request_timeout_seconds": 0.2})
    hangs = Hangs()
    app = build_asgi_app(tight, catalog, {"fake-chat": hangs}, MeterCore(tight), guard=prompt_guard)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        created = await http.post("/admin/v1/keys", json={"name": "sdk"},
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        sdk = openai.AsyncOpenAI(api_key=created.json()["key"], base_url="http://test/v1", http_client=http,
                                 max_retries=2)
        with pytest.raises(openai.InternalServerError) as raised:
            await sdk.chat.completions.create(model="fake-chat", messages=QUESTION)  # type: ignore[arg-type]
    assert raised.value.status_code == 504 and raised.value.code == "timeout"
    assert len(hangs.requests) == 1


KEY = ApiKey(id="key_streams", name="s", hint="", tier="starter", created_at=0,
             quotas=Quotas(max_concurrent_streams=1, requests_per_minute=1000))


async def admit(governance: Governance, request_id: str, *, stream: bool) -> Any:
    return await governance.admit(KEY, "m", "chat.completions", request_id, Pricing(), stream=stream)


@pytest.mark.parametrize("leases", [False, True])
async def test_open_streams_per_key_are_bounded_until_one_ends(settings: Settings, leases: bool) -> None:
    core = MeterCore(settings)
    meter = LeasedMeter(core, 60.0) if leases else core
    reporter = UsageReporter(meter, 0.01)
    governance = Governance(load_tiers(ROOT / "tiers.yaml"), meter, reporter)
    if leases:  # a lease granted to a request that is not a stream must not admit streams on its own
        plain = await admit(governance, "plain-0", stream=False)
        assert plain is not None and isinstance(meter, LeasedMeter) and meter._held
    first = await admit(governance, "stream-1", stream=True)
    with pytest.raises(RateLimitError) as refused:
        await admit(governance, "stream-2", stream=True)
    assert (refused.value.status_code, refused.value.error_type, refused.value.code) == (
        429, "rate_limit_error", "too_many_concurrent_streams")
    assert refused.value.headers["retry-after"] == "1" and "at most 1" in refused.value.message
    assert await admit(governance, "plain-1", stream=False)  # only streams are bounded
    first.finish(Usage(3, 2), "cancelled")  # a client that went away releases its stream too
    await reporter.flush()
    assert await admit(governance, "stream-3", stream=True)


def test_streams_release_their_slot_when_they_end_or_fail(client: TestClient, engine: FakeEngine) -> None:
    _, auth = new_key(client, quotas={"max_concurrent_streams": 1})

    def stream_once() -> Any:
        """A stream, once the previous one's slot is free (its record is on its way to the meter)."""
        deadline = time.monotonic() + 10
        while (answer := chat(client, auth, stream=True)).status_code == 429 and time.monotonic() < deadline:
            assert answer.json()["error"]["code"] == "too_many_concurrent_streams"
            time.sleep(0.02)
        return answer

    for _ in range(3):
        answer = stream_once()
        assert answer.status_code == 200 and answer.text.rstrip().endswith("data: [DONE]")
    engine.fail_with = ServiceUnavailableError("The engine went away.", code="engine_lost")
    assert stream_once().status_code == 503
    engine.fail_with = None
    assert stream_once().status_code == 200


def test_openapi_lists_the_timeout_and_the_guard_header() -> None:
    paths = build_openapi()["paths"]
    for path in ("/v1/chat/completions", "/v1/completions"):
        responses = paths[path]["post"]["responses"]
        assert "504" in responses and "x-llmaas-guardrail" in responses["200"]["headers"]
