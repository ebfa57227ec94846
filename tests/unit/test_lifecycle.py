from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from serve_app.catalog import Catalog
from serve_app.governance.meter import MeterCore
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeEngine

TODAY = dt.date(2026, 11, 24)


def entry(model_id: str, **lifecycle: object) -> dict[str, object]:
    return {"id": model_id, "family": "Fake", "engine": "vllm", "source": "none",
            "capabilities": ["chat", "completions"], "context_length": 64, "lifecycle": lifecycle}


CATALOG = [
    entry("current"),
    entry("old", deprecated_on="2026-10-01", retires_on="2027-01-15", replacement="current"),
    entry("gone", deprecated_on="2026-03-01", retires_on="2026-06-01", replacement="current"),
    entry("soon", available_from="2027-02-01"),
]


@pytest.fixture
def lifecycle_client(settings: Settings) -> Iterator[TestClient]:
    catalog = Catalog.model_validate({"models": CATALOG})
    # As build_app does: a retired model has no deployment, the ingress alone answers for it.
    engines = {str(e["id"]): FakeEngine() for e in CATALOG if e["id"] != "gone"}
    app = build_asgi_app(settings, catalog, engines, MeterCore(settings), today=lambda: TODAY)
    with TestClient(app) as client:
        key = client.post("/admin/v1/keys", json={"name": "t"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        client.headers["Authorization"] = f"Bearer {key.json()['key']}"
        yield client


def chat(client: TestClient, model: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "x"}]})


def test_a_deprecated_model_answers_with_deprecation_sunset_and_successor(lifecycle_client: TestClient) -> None:
    response = chat(lifecycle_client, "old")
    assert response.status_code == 200
    assert response.headers["Deprecation"] == f"@{int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp())}"
    assert parsedate_to_datetime(response.headers["Sunset"]) == dt.datetime(2027, 1, 15, tzinfo=dt.UTC)
    assert '</v1/models/current>; rel="successor-version"' in response.headers["Link"]
    assert 'rel="deprecation"' in response.headers["Link"]
    streamed = lifecycle_client.post("/v1/completions", json={"model": "old", "prompt": "x", "stream": True})
    assert streamed.status_code == 200 and "Sunset" in streamed.headers


def test_a_current_model_has_no_deprecation_headers(lifecycle_client: TestClient) -> None:
    response = chat(lifecycle_client, "current")
    assert response.status_code == 200 and "Deprecation" not in response.headers


def test_a_retired_model_is_410_naming_its_replacement(lifecycle_client: TestClient) -> None:
    response = chat(lifecycle_client, "gone")
    assert response.status_code == 410
    error = response.json()["error"]
    assert error["code"] == "model_retired" and error["param"] == "model"
    assert "`current`" in error["message"] and "2026-06-01" in error["message"]


def test_a_model_not_yet_available_does_not_exist(lifecycle_client: TestClient) -> None:
    assert chat(lifecycle_client, "soon").status_code == 404


def test_models_show_their_lifecycle(lifecycle_client: TestClient) -> None:
    data = {m["id"]: m for m in lifecycle_client.get("/v1/models").json()["data"]}
    assert set(data) == {"current", "old", "gone"}
    assert data["old"]["lifecycle"] == {"status": "deprecated", "available_from": "2026-01-01",
                                        "deprecated_on": "2026-10-01", "retires_on": "2027-01-15",
                                        "replacement": "current"}
    assert data["gone"]["lifecycle"]["status"] == "retired"
    assert data["current"]["lifecycle"]["status"] == "available"


def test_the_public_schedule_lists_upcoming_retirements(lifecycle_client: TestClient) -> None:
    schedule = TestClient(lifecycle_client.app).get("/lifecycle").json()  # no key needed
    assert schedule["as_of"] == "2026-11-24"
    assert [m["id"] for m in schedule["upcoming_retirements"]] == ["old"]
    assert {m["id"] for m in schedule["models"]} == {"current", "old", "gone", "soon"}


@pytest.mark.parametrize(("models", "message"), [
    ([entry("a", deprecated_on="2026-10-01", retires_on="2026-12-01", replacement="b"), entry("b")],
     "model 'a': retires_on 2026-12-01 is only 61 days after deprecated_on 2026-10-01; at least 90 days"),
    ([entry("a", deprecated_on="2026-10-01", retires_on="2027-01-15", replacement="nope")],
     "model 'a': replacement 'nope' is not another model of this catalog"),
    ([entry("a", retires_on="2027-01-15")], "model 'a': retires_on 2027-01-15 needs a deprecated_on announcement"),
    ([entry("a", available_from="2026-05-01", deprecated_on="2026-04-01")],
     "model 'a': deprecated_on 2026-04-01 is before available_from 2026-05-01"),
    ([entry("a"), entry("a")], "duplicate model id 'a'"),
])
def test_catalog_refusals_name_the_entry(models: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Catalog.model_validate({"models": models})
    assert message in str(refused.value)
