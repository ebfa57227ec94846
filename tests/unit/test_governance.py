"""Quotas, admission, metering and the usage API, on the in-process ingress with stand-in engines."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import time
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from serve_app.governance.admission import duration
from serve_app.governance.meter import MeterCore
from serve_app.governance.quotas import Measure, Quotas, Window
from serve_app.governance.records import AdmissionRequest, UsageRecord
from serve_app.governance.windows import window_bounds
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeEngine

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHAT = {"model": "fake-chat", "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def new_key(client: TestClient, **fields: Any) -> tuple[str, dict[str, str]]:
    response = client.post("/admin/v1/keys", json={"name": "t", **fields}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()["id"], {"Authorization": f"Bearer {response.json()['key']}"}


def usage_totals(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """The caller's ledger totals, once every queued report has reached the meter."""
    deadline = time.monotonic() + 10
    while True:
        totals: dict[str, Any] = client.get("/v1/usage", headers=headers).json()["totals"]
        if totals["requests"] or time.monotonic() > deadline:
            return totals
        time.sleep(0.05)


def test_a_token_budget_is_refused_with_429_once_spent_and_not_before(client: TestClient) -> None:
    _, auth = new_key(client, quotas={"tokens_per_day": 40})
    used = 0
    while used < 40:
        response = client.post("/v1/chat/completions", json=CHAT, headers=auth)
        assert response.status_code == 200, (used, response.text)
        assert response.headers["x-ratelimit-limit-tokens"] == "40"
        # What is left once this request's own estimate is held, as OpenAI counts it.
        assert int(response.headers["x-ratelimit-remaining-tokens"]) < 40 - used
        used += response.json()["usage"]["total_tokens"]
        time.sleep(0.05)  # let the usage report reach the meter (the client does not wait for it)
    refused = client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert "tokens per day" in error["message"]
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
    assert refused.headers["x-ratelimit-limit-tokens"] == "40"
    assert refused.headers["x-ratelimit-reset-tokens"].endswith("s")
    assert int(refused.headers["retry-after"]) >= 1


def test_requests_per_minute_and_the_request_headers(client: TestClient) -> None:
    _, auth = new_key(client, quotas={"requests_per_minute": 3})
    answers = [client.post("/v1/chat/completions", json=CHAT, headers=auth) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit-requests"] == "3" for a in answers)
    assert "requests per minute" in answers[3].json()["error"]["message"]


def test_a_spent_monthly_budget_is_insufficient_quota(client: TestClient, catalog: Any) -> None:
    _, auth = new_key(client, quotas={"monthly_spend_cap_usd": 0})
    refused = client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "insufficient_quota"
    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert "retry-after" not in refused.headers


def test_a_model_outside_the_allowed_set_is_403_and_hidden(client: TestClient) -> None:
    _, auth = new_key(client, quotas={"allowed_models": ["fake-embed"]})
    refused = client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert refused.json()["error"]["param"] == "model"
    listed = [m["id"] for m in client.get("/v1/models", headers=auth).json()["data"]]
    assert listed == ["fake-embed"]
    assert client.get("/v1/models/fake-chat", headers=auth).status_code == 404
    assert client.post("/v1/embeddings", json={"model": "fake-embed", "input": "a b"}, headers=auth).status_code == 200


def test_the_ledger_equals_what_clients_were_told(client: TestClient) -> None:
    _, auth = new_key(client)
    told = {"prompt_tokens": 0, "completion_tokens": 0}
    for body in ({**CHAT}, {**CHAT, "max_tokens": 2, "n": 2}, {"model": "fake-chat", "prompt": ["a b", "c"]}):
        path = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
        usage = client.post(path, json=body, headers=auth).json()["usage"]
        told["prompt_tokens"] += usage["prompt_tokens"]
        told["completion_tokens"] += usage["completion_tokens"]
    with client.stream("POST", "/v1/chat/completions", headers=auth,
                       json={**CHAT, "stream": True, "stream_options": {"include_usage": True}}) as stream:
        last = [line for line in stream.iter_lines() if line.startswith("data: {")][-1]
    import json
    streamed = json.loads(last.removeprefix("data: "))["usage"]
    told["prompt_tokens"] += streamed["prompt_tokens"]
    told["completion_tokens"] += streamed["completion_tokens"]
    embedded = client.post("/v1/embeddings", json={"model": "fake-embed", "input": ["one two", "three"]},
                           headers=auth).json()["usage"]
    told["prompt_tokens"] += embedded["prompt_tokens"]
    deadline = time.monotonic() + 10
    while usage_totals(client, auth)["requests"] < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    totals = usage_totals(client, auth)
    assert totals["requests"] == 5
    assert (totals["prompt_tokens"], totals["completion_tokens"]) == (told["prompt_tokens"], told["completion_tokens"])
    assert totals["cost_usd"] == 0  # the unit catalog has no prices


def test_a_failed_request_is_metered_as_an_error_with_nothing_consumed(client: TestClient, engine: Any) -> None:
    from serve_app.errors import InvalidRequestError
    engine.fail_with = InvalidRequestError("boom", param="messages")
    key_id, auth = new_key(client)
    assert client.post("/v1/chat/completions", json=CHAT, headers=auth).status_code == 400
    deadline = time.monotonic() + 10
    rows: list[dict[str, Any]] = []
    while not rows and time.monotonic() < deadline:
        rows = client.get(f"/admin/v1/usage?key_id={key_id}&group_by=endpoint", headers=ADMIN).json()["data"]
        time.sleep(0.05)
    assert rows == [{**rows[0], "endpoint": "chat.completions", "requests": 1, "total_tokens": 0}]


def test_admin_usage_filters_and_csv(client: TestClient) -> None:
    first_id, first = new_key(client)
    _, second = new_key(client)
    client.post("/v1/chat/completions", json=CHAT, headers=first)
    client.post("/v1/embeddings", json={"model": "fake-embed", "input": "x y z"}, headers=second)
    usage_totals(client, first), usage_totals(client, second)
    everyone = client.get("/admin/v1/usage", headers=ADMIN).json()
    assert everyone["totals"]["requests"] == 2
    assert {row["model"] for row in everyone["data"]} == {"fake-chat", "fake-embed"}
    mine = client.get(f"/admin/v1/usage?key_id={first_id}&group_by=model,day", headers=ADMIN).json()
    assert [(row["model"], row["requests"]) for row in mine["data"]] == [("fake-chat", 1)]
    table = client.get("/admin/v1/usage?format=csv&group_by=model", headers=ADMIN)
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert {row["model"]: row["requests"] for row in rows} == {"fake-chat": "1", "fake-embed": "1"}
    bad = client.get("/admin/v1/usage?group_by=secret", headers=ADMIN)
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "group_by")
    assert client.get("/admin/v1/usage", headers=first).status_code == 401
    assert client.get("/v1/usage?start_date=yesterday", headers=first).json()["error"]["param"] == "start_date"


def test_own_usage_shows_budget_and_limits(client: TestClient) -> None:
    _, auth = new_key(client, tier="free", quotas={"requests_per_minute": 7})
    client.post("/v1/chat/completions", json=CHAT, headers=auth)
    totals = usage_totals(client, auth)
    usage = client.get("/v1/usage", headers=auth).json()
    assert totals["requests"] == 1 and usage["tier"] == "free"
    assert usage["by_model"][0]["model"] == "fake-chat"
    assert usage["budget"]["monthly_spend_cap_usd"] == 5
    assert usage["budget"]["upfront_credit_usd"] == 5
    assert usage["limits"]["requests_per_minute"] == 7
    assert usage["limits"]["tokens_per_day"] == 200000


def test_admin_updates_rotates_and_validates_keys(client: TestClient) -> None:
    key_id, auth = new_key(client, tier="free", owner="team-a")
    assert client.post("/admin/v1/keys", json={"name": "x", "tier": "gold"}, headers=ADMIN).json()["error"][
        "param"] == "tier"
    assert client.post("/admin/v1/keys", json={"name": "x", "quotas": {"rpm": 1}}, headers=ADMIN).status_code == 400
    client.post("/v1/chat/completions", json=CHAT, headers=auth)
    usage_totals(client, auth)
    updated = client.post(f"/admin/v1/keys/{key_id}", json={"tier": "business", "quotas": {"tokens_per_day": 9}},
                          headers=ADMIN).json()
    assert (updated["tier"], updated["limits"]["tokens_per_day"], updated["limits"]["requests_per_minute"]) == (
        "business", 9, 1000)
    rotated = client.post(f"/admin/v1/keys/{key_id}/rotate", headers=ADMIN).json()
    assert rotated["id"] == key_id and rotated["rotated_at"]
    assert client.get("/v1/models", headers=auth).status_code == 401
    fresh = {"Authorization": f"Bearer {rotated['key']}"}
    assert client.get("/v1/usage", headers=fresh).json()["totals"]["requests"] == 1  # the history stays
    assert client.get(f"/admin/v1/keys/{key_id}", headers=ADMIN).json()["owner"] == "team-a"
    assert client.delete(f"/admin/v1/keys/{key_id}", headers=ADMIN).status_code == 200
    assert client.post(f"/admin/v1/keys/{key_id}/rotate", headers=ADMIN).status_code == 400


async def test_the_meter_counts_a_report_once_and_rebuilds_after_a_restart(settings: Settings) -> None:
    limits = tuple(Quotas(tokens_per_day=100, requests_per_minute=10).limits())
    meter = MeterCore(settings)
    assert (await meter.admit(AdmissionRequest("k", "r1", limits, {Measure.TOKENS: 50}))).admitted
    record = UsageRecord("r1", "k", "m", "chat.completions", prompt_tokens=60, completion_tokens=40,
                         ended_at=time.time())
    assert await meter.report([record]) == 1
    assert await meter.report([record]) == 0  # a retried batch counts once
    refused = await meter.admit(AdmissionRequest("k", "r2", limits))
    assert not refused.admitted and refused.refused_by is not None
    assert refused.refused_by.limit.name == "tokens_per_day"
    restarted = MeterCore(settings)  # a new incarnation starts from the ledger
    again = await restarted.admit(AdmissionRequest("k", "r3", limits))
    assert not again.admitted
    assert {s.limit.name: s.used for s in again.statuses} == {"requests_per_minute": 1, "tokens_per_day": 100}


async def test_in_flight_requests_hold_their_reservation(settings: Settings) -> None:
    limits = tuple(Quotas(tokens_per_minute=100).limits())
    meter = MeterCore(settings)
    first = await meter.admit(AdmissionRequest("k", "a", limits, {Measure.TOKENS: 100}))
    second = await meter.admit(AdmissionRequest("k", "b", limits, {Measure.TOKENS: 1}))
    assert first.admitted and not second.admitted  # the first may still use all 100
    await meter.report([UsageRecord("a", "k", "m", "chat.completions", 3, 2, ended_at=time.time())])
    assert (await meter.admit(AdmissionRequest("k", "c", limits))).admitted


def test_calendar_windows_and_reset_durations() -> None:
    now = 1_764_000_000.5  # 2025-11-24T16:00:00.5Z
    assert window_bounds(Window.MINUTE, now) == (1_764_000_000, 1_764_000_060)
    start, end = window_bounds(Window.MONTH, now)
    assert (end - start) / 86400 == 30
    assert [duration(s) for s in (0.5, 1, 59.2, 60, 360, 3723)] == ["0.5s", "1s", "60s", "1m0s", "6m0s", "1h2m3s"]


def test_internal_identities_are_never_billed(client: TestClient, settings: Settings) -> None:
    from serve_app.database import connect
    from serve_app.keys import KeyStore
    secret = KeyStore(connect(settings)).issue_internal_key("status-prober")
    auth = {"Authorization": f"Bearer {secret}"}
    answer = client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert answer.status_code == 200 and "x-ratelimit-limit-requests" not in answer.headers
    asyncio.run(asyncio.sleep(0.1))
    assert client.get("/admin/v1/usage", headers=ADMIN).json()["totals"]["requests"] == 0
    assert all(not key["internal"] for key in client.get("/admin/v1/keys", headers=ADMIN).json()["data"])


def test_governance_off_serves_without_keys(settings: Settings, catalog: Any) -> None:
    from serve_app.ingress import build_asgi_app

    plain = settings.model_copy(update={"governance": False})
    with TestClient(build_asgi_app(plain, catalog, {"fake-chat": FakeEngine()}, MeterCore(plain))) as open_client:
        assert open_client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_a_record_the_database_refuses_is_set_aside_without_holding_back_the_others(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from serve_app.database import connect
    from serve_app.governance.ledger import Ledger

    ledger = Ledger(connect(settings))
    good = [UsageRecord(request_id=f"req_{i}", key_id="key_a", model="m", endpoint="/v1/chat/completions",
                        prompt_tokens=3, completion_tokens=2) for i in range(3)]
    refused = dataclasses.replace(good[0], request_id="req_refused", key_id=None)  # type: ignore[arg-type]
    with caplog.at_level("ERROR"):
        written = ledger.write([good[0], refused, good[1], good[2]])
    assert {record.request_id for record in written} == {"req_0", "req_1", "req_2", "req_refused"}
    assert "req_refused" in caplog.text and "IntegrityError" in caplog.text
    assert ledger.write(good) == []  # the good ones are stored, once


@pytest.mark.parametrize("body", [
    {**CHAT, "n": 4},
    {**CHAT, "n": 4, "stream": True},
    {"model": "fake-chat", "prompt": ["one", "two"], "n": 2, "max_tokens": 60},
], ids=["chat", "stream", "completions-list"])
async def test_concurrent_requests_without_max_tokens_cross_a_limit_by_one_request_at_most(
        client: TestClient, app: Any, engine: FakeEngine, body: dict[str, Any]) -> None:
    """Each request reserves the output it may generate (all the context, without max_tokens), so a burst
    cannot pass the limit together: at most the request that crossed it is served."""
    engine.delay = 0.5  # no answer (and so no reservation settled) before the whole burst has been admitted
    _, auth = new_key(client, tier="unlimited", quotas={"tokens_per_minute": 300})
    path = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        answers = await asyncio.gather(*(http.post(path, json=body, headers=auth) for _ in range(8)))
    statuses = sorted(answer.status_code for answer in answers)
    context = 64  # the fake model's; 4 choices x 64 = 256 per request, so the second crosses 300
    assert statuses.count(200) <= 2 and statuses.count(429) >= 6, [answer.text[:200] for answer in answers]
    assert context * 4 < 300 < context * 4 * 2


async def test_a_metering_actor_that_does_not_answer_is_a_clear_503_and_its_handle_is_rebuilt() -> None:
    from serve_app.errors import ServiceUnavailableError
    from serve_app.governance.meter import ActorMeter, MeteringUnavailable

    class Silent:
        """An actor that never answers (stuck, or its node gone)."""

        def __getattr__(self, method: str) -> Any:
            class Method:
                @staticmethod
                def remote(*args: Any) -> asyncio.Future[Any]:
                    return asyncio.get_running_loop().create_future()
            return Method()

    meter = ActorMeter(Settings(metering_timeout_seconds=0.05))
    meter._actors = [Silent()]
    with pytest.raises(ServiceUnavailableError) as refused:
        await meter.admit(AdmissionRequest("key_a", "req_1", (), {}))
    assert refused.value.code == "metering_unavailable" and refused.value.headers["retry-after"] == "2"
    assert meter._actors == [None]  # looked up again (or recreated) by the next call
    meter._actors = [Silent()]
    with pytest.raises(MeteringUnavailable):  # the reporter keeps the batch and sends it again later
        await meter.report([UsageRecord("req_1", "key_a", "m", "chat.completions")])


async def test_concurrent_uploads_cross_an_audio_quota_by_one_file_at_most(
        client: TestClient, app: Any, transcriber: Any) -> None:
    """Each upload reserves its duration, read from the file's container, until it is metered: six 25 s files
    sent at once against one minute of audio are two that fit, one that crosses, and refusals."""
    from tests.fakes import wav

    _, auth = new_key(client, tier="unlimited", quotas={"audio_minutes_per_month": 1})
    transcriber.release = asyncio.Event()  # every admitted upload is still being transcribed when the others ask
    files = {"file": ("speech.wav", wav(25.0, rate=400), "audio/wav")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        uploads = [asyncio.create_task(http.post("/v1/audio/transcriptions", headers=auth,
                                                 data={"model": "fake-whisper"}, files=files)) for _ in range(6)]
        while len(transcriber.requests) + sum(upload.done() for upload in uploads) < len(uploads):
            await asyncio.sleep(0.01)
        transcriber.release.set()
        answers = await asyncio.gather(*uploads)
        served = [answer.json()["usage"]["seconds"] for answer in answers if answer.status_code == 200]
        refused = [answer.json()["error"] for answer in answers if answer.status_code != 200]
        assert served == [25, 25, 25]  # 0 + 25 + 25 < 60 s: the third crossed the limit
        assert all(error["code"] == "insufficient_quota" for error in refused) and len(refused) == 3
        assert "audio minutes per month" in refused[0]["message"]
        for _ in range(200):  # the ledger equals what the clients were told
            totals = (await http.get("/v1/usage", headers=auth)).json()["totals"]
            if totals["requests"] == len(served):
                break
            await asyncio.sleep(0.05)
    assert (totals["requests"], totals["audio_seconds"]) == (3, 75)
