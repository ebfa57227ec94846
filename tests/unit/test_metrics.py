"""What the ingress records (with stand-in metric objects) and what /metrics serves from Ray's exporters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

from deployments.llm_protocol import ChoiceDelta, GenerationChunk, GenerationRequest
from serve_app.catalog import Catalog
from serve_app.cluster_metrics import ClusterMetrics, aggregate, routes
from serve_app.errors import ServiceUnavailableError
from serve_app.governance.meter import MeterCore
from serve_app.ingress import build_asgi_app
from serve_app.metrics import Family, Metrics
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeEmbedder, FakeEngine, FakeTranscriber

Tags = frozenset[tuple[str, str]]


@dataclass
class Recorded:
    """Stand-ins for ray.serve.metrics objects: the same inc/observe/set calls, kept in dicts."""

    totals: dict[tuple[str, Tags], float] = field(default_factory=lambda: defaultdict(float))
    observed: dict[tuple[str, Tags], list[float]] = field(default_factory=lambda: defaultdict(list))
    gauges: dict[tuple[str, Tags], float] = field(default_factory=dict)

    def instrument(self, family: Family) -> Any:
        recorded = self

        class Instrument:
            def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
                recorded.totals[family.name, frozenset((tags or {}).items())] += value

            def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
                recorded.observed[family.name, frozenset((tags or {}).items())].append(value)

            def set(self, value: float, tags: dict[str, str] | None = None) -> None:
                recorded.gauges[family.name, frozenset((tags or {}).items())] = value

        return Instrument()

    def total(self, name: str, **tags: str) -> float:
        return self.totals.get((name, frozenset(tags.items())), 0.0)

    def observations(self, name: str, **tags: str) -> list[float]:
        return self.observed.get((name, frozenset(tags.items())), [])


class BreaksMidStream(FakeEngine):
    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        yield GenerationChunk([ChoiceDelta(0, "Hello")], 3, 1)
        raise ServiceUnavailableError("The engine went away.", code="engine_lost")


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def metered(settings: Settings, catalog: Catalog, engine: FakeEngine, embedder: FakeEmbedder,
            transcriber: FakeTranscriber, meter: MeterCore, recorded: Recorded) -> Iterator[TestClient]:
    engines = {"fake-chat": engine, "fake-embed": embedder, "fake-vision": BreaksMidStream(),
               "fake-whisper": transcriber}
    app = build_asgi_app(settings, catalog, engines, meter, recorder=Metrics(recorded.instrument))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def key(metered: TestClient) -> dict[str, str]:
    created = metered.post("/admin/v1/keys", json={"name": "metrics"},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    return {"Authorization": f"Bearer {created.json()['key']}"}


CHAT = {"model": "fake-chat", "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def test_a_chat_counts_its_request_tokens_and_latencies(metered: TestClient, key: dict[str, str],
                                                        recorded: Recorded) -> None:
    assert metered.post("/v1/chat/completions", json=CHAT, headers=key).status_code == 200
    streamed = metered.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=key)
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    assert recorded.total("llmaas_requests", endpoint="/v1/chat/completions", model="fake-chat", status="200") == 2
    assert recorded.total("llmaas_input_tokens", model="fake-chat") == 2 * 6
    assert recorded.total("llmaas_output_tokens", model="fake-chat") == 2 * 5
    assert len(recorded.observations("llmaas_time_to_first_token_seconds", model="fake-chat")) == 2
    per_token = recorded.observations("llmaas_time_per_output_token_seconds", model="fake-chat")
    assert len(per_token) == 2 and all(value >= 0 for value in per_token)
    assert recorded.gauges["llmaas_requests_in_flight", frozenset({("model", "fake-chat")})] == 0


def test_errors_are_counted_by_status_type_and_code_under_the_route_template(
        metered: TestClient, key: dict[str, str], recorded: Recorded) -> None:
    assert metered.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"}, headers=key).status_code == 404
    assert metered.post("/v1/chat/completions", json=CHAT).status_code == 401
    assert metered.get("/v1/models/no-such-model", headers=key).status_code == 404
    assert metered.get("/no/such/route").status_code == 404
    assert recorded.total("llmaas_request_errors", endpoint="/v1/chat/completions", model="", status="404",
                          type="invalid_request_error", code="model_not_found") == 1
    assert recorded.total("llmaas_request_errors", endpoint="/v1/chat/completions", model="", status="401",
                          type="invalid_request_error", code="") == 1  # no key: OpenAI's error has no code
    assert recorded.total("llmaas_requests", endpoint="/v1/models/{model:path}", model="", status="404") == 1
    assert recorded.total("llmaas_requests", endpoint="unmatched", model="", status="404") == 1


def test_an_error_inside_a_started_stream_counts_with_its_own_status(metered: TestClient, key: dict[str, str],
                                                                     recorded: Recorded) -> None:
    response = metered.post("/v1/chat/completions", headers=key,
                            json={**CHAT, "model": "fake-vision", "stream": True})
    assert response.status_code == 200 and "engine_lost" in response.text
    assert recorded.total("llmaas_request_errors", endpoint="/v1/chat/completions", model="fake-vision",
                          status="503", type="service_unavailable", code="engine_lost") == 1
    assert recorded.total("llmaas_output_tokens", model="fake-vision") == 1  # what the engine produced


def test_embeddings_and_audio_count_tokens_and_seconds(metered: TestClient, key: dict[str, str],
                                                       recorded: Recorded) -> None:
    from serve_app.status.probes import silent_clip

    embedded = metered.post("/v1/embeddings", json={"model": "fake-embed", "input": ["one two", "three"]},
                            headers=key)
    assert embedded.status_code == 200
    assert recorded.total("llmaas_input_tokens", model="fake-embed") == 3
    clip = silent_clip()
    heard = metered.post("/v1/audio/transcriptions", data={"model": "fake-whisper"},
                         files={"file": ("a.wav", clip, "audio/wav")}, headers=key)
    assert heard.status_code == 200
    assert recorded.total("llmaas_audio_seconds", model="fake-whisper") == pytest.approx(1.5)


def test_no_label_carries_a_key_or_user_text(metered: TestClient, key: dict[str, str], recorded: Recorded) -> None:
    metered.post("/v1/chat/completions", json=CHAT, headers=key)
    metered.post("/v1/chat/completions", json={**CHAT, "model": "secret-model-name-from-a-user"}, headers=key)
    values = {value for (_, tags) in [*recorded.totals, *recorded.observed] for _, value in tags}
    assert not any("sk-" in value or "key_" in value or "capital" in value or "secret" in value for value in values)


# What Ray's exporter shows for two ingress replicas (label sets abridged from a real run).
EXPORTER = """\
# HELP ray_llmaas_requests_total HTTP requests.
# TYPE ray_llmaas_requests_total counter
ray_llmaas_requests_total{{Component="core_worker",NodeAddress="10.0.0.{n}",SessionName="s",WorkerId="w1",\
application="llmaas",deployment="Ingress",endpoint="/v1/chat/completions",model="m",replica="r1",status="200"}} 3.0
ray_llmaas_requests_total{{Component="core_worker",NodeAddress="10.0.0.{n}",SessionName="s",WorkerId="w2",\
application="llmaas",deployment="Ingress",endpoint="/v1/chat/completions",model="m",replica="r2",status="200"}} 4.0
# HELP ray_llmaas_time_to_first_token_seconds TTFT.
# TYPE ray_llmaas_time_to_first_token_seconds histogram
ray_llmaas_time_to_first_token_seconds_bucket{{WorkerId="w1",le="0.1",model="m",replica="r1"}} 1.0
ray_llmaas_time_to_first_token_seconds_bucket{{WorkerId="w1",le="+Inf",model="m",replica="r1"}} 2.0
ray_llmaas_time_to_first_token_seconds_bucket{{WorkerId="w2",le="0.1",model="m",replica="r2"}} 0.0
ray_llmaas_time_to_first_token_seconds_bucket{{WorkerId="w2",le="+Inf",model="m",replica="r2"}} 1.0
ray_llmaas_time_to_first_token_seconds_count{{WorkerId="w1",model="m",replica="r1"}} 2.0
ray_llmaas_time_to_first_token_seconds_count{{WorkerId="w2",model="m",replica="r2"}} 1.0
ray_llmaas_time_to_first_token_seconds_sum{{WorkerId="w1",model="m",replica="r1"}} 0.5
ray_llmaas_time_to_first_token_seconds_sum{{WorkerId="w2",model="m",replica="r2"}} 0.25
# HELP ray_serve_deployment_queued_queries Queued.
# TYPE ray_serve_deployment_queued_queries gauge
ray_serve_deployment_queued_queries{{application="llmaas",deployment="model-m",handle="h1"}} 2.0
ray_serve_deployment_queued_queries{{application="llmaas",deployment="Ingress",handle="h2"}} 9.0
# HELP ray_tasks Tasks.
# TYPE ray_tasks gauge
ray_tasks{{State="RUNNING"}} 5.0
"""


def samples(text: str) -> dict[tuple[str, Tags], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_sum_replicas_and_nodes_and_keep_only_the_platforms_families() -> None:
    async def two_nodes() -> tuple[list[str], int]:
        return [EXPORTER.format(n=1), EXPORTER.format(n=2)], 1

    cluster = ClusterMetrics({"model-m": "m"}, two_nodes)
    text = (await cluster.exposition()).decode()
    found = samples(text)
    assert found[("llmaas_requests_total", frozenset({("endpoint", "/v1/chat/completions"), ("model", "m"),
                                                      ("status", "200")}))] == 14
    assert found[("llmaas_time_to_first_token_seconds_bucket", frozenset({("model", "m"), ("le", "0.1")}))] == 2
    assert found[("llmaas_time_to_first_token_seconds_bucket", frozenset({("model", "m"), ("le", "+Inf")}))] == 6
    assert found[("llmaas_time_to_first_token_seconds_sum", frozenset({("model", "m")}))] == 1.5
    assert found[("llmaas_queued_requests", frozenset({("model", "m")}))] == 4
    assert found[("llmaas_metrics_unreachable_nodes", frozenset())] == 1
    assert "ray_" not in text and "WorkerId" not in text and "replica=" not in text
    assert {name for name, _ in found} <= {"llmaas_requests_total", "llmaas_time_to_first_token_seconds_bucket",
                                           "llmaas_time_to_first_token_seconds_count",
                                           "llmaas_time_to_first_token_seconds_sum", "llmaas_queued_requests",
                                           "llmaas_metrics_unreachable_nodes"}


def test_every_family_is_described_even_before_traffic() -> None:
    names = {metric.name for metric in aggregate([], {})}
    assert {"llmaas_requests", "llmaas_request_errors", "llmaas_input_tokens", "llmaas_output_tokens",
            "llmaas_audio_seconds", "llmaas_time_to_first_token_seconds", "llmaas_time_per_output_token_seconds",
            "llmaas_requests_in_flight", "llmaas_queued_requests", "llmaas_healthy_replicas"} <= names


def test_the_route_serves_prometheus_text() -> None:
    async def one_node() -> tuple[list[str], int]:
        return [EXPORTER.format(n=1)], 0

    with TestClient(Starlette(routes=routes(ClusterMetrics({}, one_node)))) as client:
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert samples(response.text)[("llmaas_requests_total", frozenset({
        ("endpoint", "/v1/chat/completions"), ("model", "m"), ("status", "200")}))] == 7
