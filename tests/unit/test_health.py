from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from serve_app.catalog import Catalog
from serve_app.health import HealthMonitor
from tests.fakes import FakeEngine


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "still not so after the deadline"
        time.sleep(0.01)


def test_health_is_200_when_every_model_answers(client: TestClient, catalog: Catalog) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    models = dict.fromkeys((entry.id for entry in catalog.models), "up")
    assert response.json() == {"status": "ok", "models": models, "unavailable": []}


def test_health_is_503_naming_the_models_down(client: TestClient, engine: FakeEngine) -> None:
    assert client.get("/health").status_code == 200
    engine.healthy = False
    eventually(lambda: client.get("/health").status_code == 503)
    body = client.get("/health").json()
    assert body["unavailable"] == ["fake-chat"]
    assert body["reasons"] == {"fake-chat": "health check failed: RuntimeError"}
    engine.healthy = True
    eventually(lambda: client.get("/health").status_code == 200)


class Hanging:
    """A replica that is not placed (or hangs): its health check never returns."""

    def __init__(self) -> None:
        self.calls = 0

    async def check_health(self) -> None:
        self.calls += 1
        await asyncio.Event().wait()


async def test_a_hanging_model_costs_the_caller_nothing_and_is_down_at_its_second_timeout() -> None:
    hanging = Hanging()
    monitor = HealthMonitor({"up": FakeEngine(), "hanging": hanging}, timeout=0.3, period=0.05)
    started = time.monotonic()
    assert await monitor.report() == {"up": "up", "hanging": "starting"}  # one timeout so far
    assert time.monotonic() - started < 1.0  # the first call waits briefly for the first results, no longer
    await asyncio.sleep(0.4)
    quick = time.monotonic()
    assert await monitor.report() == {"up": "up", "hanging": "down"}
    assert time.monotonic() - quick < 0.05  # later calls read the latest results
    assert "no answer within 0.3 s, 2 times in a row" in monitor.reasons()["hanging"]
    await monitor.stop()
    assert hanging.calls >= 2


async def test_a_failing_check_is_down_at_once_and_one_timeout_alone_is_not() -> None:
    monitor = HealthMonitor({"m": FakeEngine()}, timeout=1, period=10)
    monitor._record("m", None)
    monitor._record("m", "timeout")
    assert monitor._state("m") == "up"
    monitor._record("m", None)
    monitor._record("m", "timeout")
    assert monitor._state("m") == "up"  # not two in a row
    monitor._record("m", "ActorDiedError")
    assert monitor._state("m") == "down" and monitor.reasons() == {"m": "health check failed: ActorDiedError"}
    monitor._record("m", None)
    assert monitor._state("m") == "up" and monitor.reasons() == {}


async def test_checks_run_in_the_background_not_per_call() -> None:
    class Counting(FakeEngine):
        checks = 0

        async def check_health(self) -> None:
            Counting.checks += 1

    monitor = HealthMonitor({"m": Counting()}, timeout=1, period=10)
    for _ in range(20):
        assert await monitor.report() == {"m": "up"}
    await monitor.stop()
    assert Counting.checks == 1


async def test_probed_outages_count_and_a_failing_status_store_keeps_the_last_answer() -> None:
    answers: list[set[str] | Exception] = [{"m"}, RuntimeError("database is down")]

    async def down_by_probes() -> set[str]:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monitor = HealthMonitor({"m": FakeEngine()}, timeout=1, period=0.02, down_by_probes=down_by_probes)
    assert await monitor.report() == {"m": "down"}
    await asyncio.sleep(0.1)
    assert await monitor.report() == {"m": "down"}
    await monitor.stop()


@pytest.mark.parametrize("healthy", [True, False])
async def test_stop_ends_every_background_check(healthy: bool) -> None:
    monitor = HealthMonitor({"m": FakeEngine(healthy=healthy), "h": Hanging()}, timeout=5, period=0.01)
    await monitor.report()
    tasks = list(monitor._tasks)
    await monitor.stop()
    assert len(tasks) == 3 and all(task.done() for task in tasks)
