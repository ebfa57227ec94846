"""The ingress's usage reporter: every record reaches the meter once, in few actor calls under load, and a
record that frees an open stream without waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from serve_app.catalog import Catalog
from serve_app.governance.meter import MeterCore
from serve_app.governance.records import AdmissionRequest, AdmissionResult, UsageRecord
from serve_app.governance.reporter import UsageReporter
from serve_app.guardrails import PromptGuard
from serve_app.settings import Settings
from tests.fakes import FakeEngine

INTERVAL = 0.5


class RecordingMeter:
    """Takes reports (the actor's side), noting each call's batch; fails the first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.failures = failures

    async def admit(self, request: AdmissionRequest) -> AdmissionResult:
        raise NotImplementedError

    async def release(self, lease_id: str, in_flight: object) -> None:
        raise NotImplementedError

    async def renew(self, request_ids: Sequence[str]) -> None:
        raise NotImplementedError

    async def report(self, records: Sequence[UsageRecord]) -> int:
        await asyncio.sleep(0.01)  # an actor call takes a moment
        if self.failures:
            self.failures -= 1
            raise ConnectionError("actor restarting")
        self.batches.append([record.request_id for record in records])
        return len(records)


def record(request_id: str) -> UsageRecord:
    return UsageRecord(request_id=request_id, key_id="key", model="m", endpoint="embeddings", prompt_tokens=3)


async def wait_for_calls(meter: RecordingMeter, count: int, timeout: float) -> float:
    """Seconds until the meter got ``count`` calls."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while len(meter.batches) < count:
        assert loop.time() - start < timeout, f"{len(meter.batches)} calls after {timeout} s: {meter.batches}"
        await asyncio.sleep(0.005)
    return loop.time() - start


async def test_a_record_after_a_quiet_spell_is_sent_at_once() -> None:
    meter = RecordingMeter()
    reporter = UsageReporter(meter, retry_seconds=0.05, interval_seconds=INTERVAL)  # type: ignore[arg-type]
    reporter.record(record("r1"))
    assert await wait_for_calls(meter, 1, timeout=INTERVAL) < INTERVAL / 2
    assert meter.batches == [["r1"]]


async def test_records_finished_within_the_interval_share_one_actor_call() -> None:
    meter = RecordingMeter()
    reporter = UsageReporter(meter, retry_seconds=0.05, interval_seconds=INTERVAL)  # type: ignore[arg-type]
    reporter.record(record("r1"))
    await wait_for_calls(meter, 1, timeout=INTERVAL)
    for index in range(2, 12):  # ten more requests end over the next 0.1 s
        reporter.record(record(f"r{index}"))
        await asyncio.sleep(0.01)
    assert len(meter.batches) == 1  # they wait for the interval...
    await wait_for_calls(meter, 2, timeout=2 * INTERVAL)
    assert meter.batches[1] == [f"r{index}" for index in range(2, 12)]  # ...and go in one call, in order
    assert reporter.pending == 0


async def test_a_record_that_frees_a_stream_does_not_wait_for_the_interval() -> None:
    meter = RecordingMeter()
    reporter = UsageReporter(meter, retry_seconds=0.05, interval_seconds=INTERVAL)  # type: ignore[arg-type]
    reporter.record(record("r1"))
    await wait_for_calls(meter, 1, timeout=INTERVAL)
    reporter.record(record("plain"))
    reporter.record(record("stream"), urgent=True)
    assert await wait_for_calls(meter, 2, timeout=INTERVAL) < INTERVAL / 2
    assert meter.batches[1] == ["plain", "stream"]


async def test_without_an_interval_each_finished_request_is_sent_when_the_previous_call_returns() -> None:
    meter = RecordingMeter()
    reporter = UsageReporter(meter, retry_seconds=0.05)  # type: ignore[arg-type]
    for index in range(3):
        reporter.record(record(f"r{index}"))
        await wait_for_calls(meter, index + 1, timeout=0.5)
    assert meter.batches == [["r0"], ["r1"], ["r2"]]


async def test_a_failed_send_is_retried_and_nothing_is_lost() -> None:
    meter = RecordingMeter(failures=2)
    reporter = UsageReporter(meter, retry_seconds=0.02, interval_seconds=INTERVAL)  # type: ignore[arg-type]
    for index in range(5):
        reporter.record(record(f"r{index}"))
    await wait_for_calls(meter, 1, timeout=5 * INTERVAL)
    await reporter.flush()
    assert [request_id for batch in meter.batches for request_id in batch] == [f"r{index}" for index in range(5)]


async def test_a_flush_beside_a_send_in_flight_loses_nothing() -> None:
    """Shutdown's flush while the send loop's batch is on its way: each batch goes once, nothing is dropped."""
    meter = RecordingMeter()
    reporter = UsageReporter(meter, retry_seconds=0.05)  # type: ignore[arg-type]
    for index in range(1200):
        reporter.record(record(f"r{index}"))
    await asyncio.sleep(0.001)  # the send loop's first batch is in flight
    await reporter.flush()
    sent = [request_id for batch in meter.batches for request_id in batch]
    assert sorted(sent) == sorted(f"r{index}" for index in range(1200))
    assert reporter.pending == 0


def test_an_ingress_that_stops_sends_its_queued_usage_first(settings: Settings, catalog: Catalog,
                                                           engine: FakeEngine, meter: MeterCore,
                                                           prompt_guard: PromptGuard) -> None:
    """Records wait for the next batch (an interval of a minute here); stopping the ingress sends them."""
    from starlette.testclient import TestClient

    from serve_app.database import connect
    from serve_app.governance.ledger import Ledger, UsageQuery
    from serve_app.ingress import build_asgi_app
    from tests.conftest import ADMIN_TOKEN

    slow = settings.model_copy(update={"metering_interval_seconds": 60.0, "admission_lease_seconds": 2.0})
    app = build_asgi_app(slow, catalog, {"fake-chat": engine}, meter, guard=prompt_guard)
    with TestClient(app) as client:
        created = client.post("/admin/v1/keys", json={"name": "stopping", "tier": "unlimited"},
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        auth = {"Authorization": f"Bearer {created['key']}"}
        chat = {"model": "fake-chat", "messages": [{"role": "user", "content": "Hi"}]}
        served = [client.post("/v1/chat/completions", json=chat, headers=auth) for _ in range(3)]
        assert all(response.status_code == 200 for response in served)
    rows = Ledger(connect(slow)).summary(UsageQuery(key_id=created["id"], group_by=("key_id",)))
    assert rows and rows[0]["requests"] == 3
