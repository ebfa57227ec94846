"""The prober end to end in-process: its probes go over HTTP (ASGI) through the real ingress to stand-in
engines; states, incidents, /status, /status.json and /health follow."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from serve_app.catalog import Catalog
from serve_app.database import connect
from serve_app.keys import KeyStore
from serve_app.settings import Settings
from serve_app.status import routes as status_routes
from serve_app.status.probe_metrics import ProbeMetrics
from serve_app.status.prober import PROBER_IDENTITY, Prober
from serve_app.status.probes import Probes, ProbeTarget
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeEngine, FakeTranscriber
from tests.unit.test_metrics import Recorded

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(autouse=True)
def no_page_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request rebuilds the status document (in production a replica keeps it for 2 s)."""
    monkeypatch.setattr(status_routes, "CACHE_SECONDS", 0)


@pytest.fixture
async def http(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def make_prober(settings: Settings, catalog: Catalog, http: httpx.AsyncClient,
                issue_key: Callable[[], str] | None = None, metrics: ProbeMetrics | None = None) -> Prober:
    engine = connect(settings)
    prober_settings = settings.model_copy(update={"status_window_probes": 2, "status_outage_probes": 2,
                                                  "status_probe_timeout_seconds": 10})
    targets = [ProbeTarget.for_entry(entry) for entry in catalog.models]
    return Prober(prober_settings, targets, engine, Probes(http),
                  issue_key or (lambda: KeyStore(engine).issue_internal_key(PROBER_IDENTITY)), metrics)


@pytest.fixture
def prober(settings: Settings, catalog: Catalog, http: httpx.AsyncClient) -> Prober:
    return make_prober(settings, catalog, http)


async def status(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/status.json")
    assert response.status_code == 200
    return dict(response.json())


async def health(http: httpx.AsyncClient, expected: int) -> httpx.Response:
    """/health once its background checks (every 20 ms here) have caught up with ``expected``."""
    for _ in range(250):
        response = await http.get("/health")
        if response.status_code == expected:
            return response
        await asyncio.sleep(0.02)
    raise AssertionError(f"/health still answers {response.status_code}, not {expected}")


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {model["id"]: model for model in document["models"]}


async def test_before_any_probe_every_model_is_listed_as_unknown(http: httpx.AsyncClient, catalog: Catalog) -> None:
    document = await status(http)
    assert document["state"] == "unknown" and document["stale"] is True
    assert [m["id"] for m in document["models"]] == [entry.id for entry in catalog.models]
    assert {m["state"] for m in document["models"]} == {"unknown"}


async def test_a_round_probes_every_model_through_the_api(http: httpx.AsyncClient, prober: Prober) -> None:
    results = await prober.round()
    assert {r.model: (r.ok, r.error) for r in results} == {
        "fake-chat": (True, None), "fake-vision": (True, None), "fake-embed": (True, None),
        "fake-whisper": (True, None)}
    document = await status(http)
    assert document["state"] == "operational" and document["stale"] is False
    models = by_id(document)
    for model in models.values():
        probe = model["last_probe"]
        assert probe["ok"] and probe["ttfb_ms"] >= 0 and probe["at"] == pytest.approx(document["generated_at"], abs=60)
        assert model["uptime"] == {"24h": 1.0, "7d": 1.0, "90d": 1.0}
        assert len(model["history"]) == 1 and len(model["daily"]) == 1
    assert models["fake-embed"]["unit"] == "inputs/s" and models["fake-embed"]["last_probe"]["throughput"] > 0
    assert models["fake-whisper"]["unit"] == "audio s/s" and models["fake-whisper"]["last_probe"]["throughput"] > 0
    assert models["fake-chat"]["unit"] == "tokens/s"


async def test_probes_use_an_internal_identity_that_admins_do_not_see(http: httpx.AsyncClient, prober: Prober,
                                                                      engine: FakeEngine) -> None:
    await prober.round()
    listed = (await http.get("/admin/v1/keys", headers=ADMIN)).json()["data"]
    assert all(key["name"] != PROBER_IDENTITY for key in listed)
    prompt = engine.requests[-1].messages
    assert prompt is not None and "Count from one to twenty" in str(prompt)


async def test_a_failing_model_opens_an_incident_that_resolves_when_it_is_back(
        http: httpx.AsyncClient, prober: Prober, engine: FakeEngine) -> None:
    await prober.round()
    engine.fail_with = RuntimeError("engine is stuck")
    await prober.round()
    assert by_id(await status(http))["fake-chat"]["state"] == "partial_outage"
    await prober.round()
    document = await status(http)
    chat = by_id(document)["fake-chat"]
    assert chat["state"] == "major_outage" and chat["last_probe"]["error"] == "http_500"
    assert document["state"] == "partial_outage"  # the other models still answer
    (incident,) = document["incidents"]
    assert incident["status"] == "open" and incident["impact"] == "major_outage"
    assert [m["model"] for m in incident["models"]] == ["fake-chat"]
    down = await health(http, 503)  # the engine's own check passes; the probes say otherwise
    assert down.json()["unavailable"] == ["fake-chat"]

    engine.fail_with = None
    await prober.round()
    assert by_id(await status(http))["fake-chat"]["state"] == "partial_outage"  # recovery not confirmed yet
    await prober.round()
    document = await status(http)
    assert by_id(document)["fake-chat"]["state"] == "operational"
    (incident,) = document["incidents"]
    assert incident["status"] == "resolved" and incident["resolved_at"] >= incident["started_at"]
    assert incident["models"][0]["recovered_at"] is not None
    assert by_id(document)["fake-chat"]["uptime"]["24h"] == pytest.approx(3 / 5)
    await health(http, 200)


async def test_a_model_that_never_answered_opens_no_incident(http: httpx.AsyncClient, prober: Prober,
                                                             transcriber: FakeTranscriber) -> None:
    transcriber.sentences = ()  # every transcription fails (a model that cannot start, say)
    await prober.round()
    await prober.round()
    document = await status(http)
    assert by_id(document)["fake-whisper"]["state"] == "major_outage"
    assert document["incidents"] == []


async def test_failures_while_a_model_starts_are_not_held_against_it(http: httpx.AsyncClient, prober: Prober,
                                                                      engine: FakeEngine) -> None:
    engine.fail_with = RuntimeError("still loading")
    await prober.round()
    await prober.round()
    assert by_id(await status(http))["fake-chat"]["state"] == "major_outage"  # true: it does not answer yet
    engine.fail_with = None
    await prober.round()
    document = await status(http)
    chat = by_id(document)["fake-chat"]
    assert chat["state"] == "operational" and chat["uptime"]["24h"] == 1.0
    assert [p["ok"] for p in chat["history"]] == [False, False, True]  # the chart still shows them
    assert document["incidents"] == []


async def test_a_refused_prober_key_is_reissued_and_its_round_not_counted(
        settings: Settings, catalog: Catalog, http: httpx.AsyncClient) -> None:
    engine = connect(settings)
    keys = iter(["sk-not-a-key", KeyStore(engine).issue_internal_key(PROBER_IDENTITY)])
    prober = make_prober(settings, catalog, http, issue_key=lambda: next(keys))
    assert await prober.round() == []
    assert {m["state"] for m in (await status(http))["models"]} == {"unknown"}
    assert len(await prober.round()) == 4


async def test_maintenance_shows_at_once_and_hides_failures(http: httpx.AsyncClient, prober: Prober,
                                                             engine: FakeEngine) -> None:
    await prober.round()
    created = await http.post("/admin/v1/maintenance", headers=ADMIN, json={
        "title": "Engine upgrade", "models": ["fake-chat"], "starts_at": "2020-01-01T00:00:00Z",
        "ends_at": "2999-01-01T00:00:00Z"})
    assert created.status_code == 200, created.text
    window = created.json()
    assert window["status"] == "active" and window["models"] == ["fake-chat"]
    document = await status(http)
    assert by_id(document)["fake-chat"]["state"] == "under_maintenance"
    assert document["maintenance"][0]["title"] == "Engine upgrade"
    engine.fail_with = RuntimeError("restarting")
    await prober.round()
    await prober.round()
    document = await status(http)
    assert document["incidents"] == [] and by_id(document)["fake-chat"]["uptime"]["24h"] == 1.0
    await health(http, 200)
    ended = await http.delete(f"/admin/v1/maintenance/{window['id']}", headers=ADMIN)
    assert ended.status_code == 200 and ended.json()["deleted"] is True
    assert by_id(await status(http))["fake-chat"]["state"] == "operational"  # the last summary before it ended


async def test_maintenance_requests_are_checked(http: httpx.AsyncClient) -> None:
    window = {"title": "x", "starts_at": 1_000, "ends_at": 2_000}
    assert (await http.post("/admin/v1/maintenance", json=window)).status_code == 401
    past = await http.post("/admin/v1/maintenance", headers=ADMIN, json=window)
    assert past.status_code == 400 and past.json()["error"]["param"] == "ends_at"
    unknown = await http.post("/admin/v1/maintenance", headers=ADMIN,
                              json={**window, "ends_at": 4_000_000_000, "models": ["nope"]})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "models"
    backwards = await http.post("/admin/v1/maintenance", headers=ADMIN, json={**window, "starts_at": 3_000})
    assert backwards.status_code == 400
    assert (await http.get("/admin/v1/maintenance", headers=ADMIN)).json() == {"object": "list", "data": []}
    assert (await http.delete("/admin/v1/maintenance/mnt_nope", headers=ADMIN)).status_code == 404


async def test_admins_title_and_update_incidents(http: httpx.AsyncClient, prober: Prober,
                                                 engine: FakeEngine) -> None:
    await prober.round()
    engine.fail_with = RuntimeError("down")
    await prober.round()
    incident_id = (await status(http))["incidents"][0]["id"]
    path = f"/admin/v1/incidents/{incident_id}"
    assert (await http.patch(path, json={"title": "x"})).status_code == 401
    titled = await http.patch(path, headers=ADMIN, json={"title": "Chat model unavailable"})
    assert titled.status_code == 200 and titled.json()["title"] == "Chat model unavailable"
    update = await http.post(f"{path}/updates", headers=ADMIN,
                             json={"status": "identified", "message": "A driver fault; restarting the node."})
    assert update.status_code == 200
    assert update.json()["updates"][0] == {**update.json()["updates"][0], "status": "identified", "author": "admin"}
    invalid = await http.post(f"{path}/updates", headers=ADMIN, json={"status": "fixed?", "message": "x"})
    assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "status"
    assert (await http.patch("/admin/v1/incidents/inc_nope", headers=ADMIN, json={"title": "x"})).status_code == 404
    shown = (await status(http))["incidents"][0]
    assert shown["title"] == "Chat model unavailable" and shown["updates"][0]["status"] == "identified"


async def test_the_page_is_self_contained_html_without_secrets(http: httpx.AsyncClient, prober: Prober,
                                                               engine: FakeEngine, catalog: Catalog) -> None:
    await prober.round()
    engine.fail_with = RuntimeError("down")
    await prober.round()
    page = await http.get("/status")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for entry in catalog.models:
        assert f'data-model="{entry.id}"' in html
    assert "Partial outage" in html and "<svg" in html and 'data-incident="inc_' in html
    assert "src=" not in html and "<script" not in html and "@import" not in html  # no external asset
    assert "sk-" not in html and "sk-" not in (await http.get("/status.json")).text


def test_a_reranker_is_probed_with_rerank() -> None:
    from serve_app.catalog.schema import ModelEntry
    from serve_app.status.probes import ProbeKind, ProbeTarget

    entry = ModelEntry.model_validate({"id": "r", "family": "BGE", "engine": "sentence-transformers", "source": "x",
                                       "capabilities": ["rerank"], "context_length": 512,
                                       "engine_args": {"cross_encoder": True}})
    assert ProbeTarget.for_entry(entry) == ProbeTarget("r", ProbeKind.RERANK)
    assert ProbeKind.RERANK.unit == "documents/s"


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def metered_prober(settings: Settings, catalog: Catalog, http: httpx.AsyncClient, recorded: Recorded) -> Prober:
    """A prober that records its Prometheus series into stand-ins."""
    return make_prober(settings, catalog, http, metrics=ProbeMetrics(recorded.instrument))


async def test_status_json_reports_this_months_availability_per_model(http: httpx.AsyncClient, metered_prober: Prober,
                                                                      engine: FakeEngine) -> None:
    await metered_prober.round()
    engine.fail_with = RuntimeError("engine is stuck")
    await metered_prober.round()
    document = await status(http)
    assert document["slo"] == {"availability": 0.99, "period": "calendar month (UTC)"}
    chat = by_id(document)["fake-chat"]["monthly"]
    this_month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert len(chat) == 3 and chat[-1] == {"month": this_month, "availability": 0.5, "probes": 2, "met": False,
                                           "complete": False}
    assert by_id(document)["fake-embed"]["monthly"][-1]["met"] is True


async def test_the_prober_exports_counted_probes_and_each_models_state(http: httpx.AsyncClient,
                                                                       metered_prober: Prober, engine: FakeEngine,
                                                                       transcriber: FakeTranscriber,
                                                                       recorded: Recorded) -> None:
    transcriber.sentences = ()  # whisper never answers: it is starting, as far as anyone knows
    await metered_prober.round()
    engine.fail_with = RuntimeError("engine is stuck")
    await metered_prober.round()
    await metered_prober.round()
    assert recorded.total("llmaas_probes", model="fake-chat", result="ok") == 1
    assert recorded.total("llmaas_probes", model="fake-chat", result="failed") == 2
    assert recorded.total("llmaas_probes", model="fake-whisper", result="failed") == 0  # not counted yet
    states = {(dict(tags)["model"], dict(tags)["state"]): value for (name, tags), value in recorded.gauges.items()
              if name == "llmaas_model_state"}
    assert states["fake-chat", "major_outage"] == 1 and states["fake-chat", "operational"] == 0
    assert states["fake-whisper", "unknown"] == 1 and states["fake-whisper", "major_outage"] == 0
    assert states["fake-embed", "operational"] == 1
    assert sum(value for (model, _), value in states.items() if model == "fake-chat") == 1
