"""Public endpoints with a costly answer (``/metrics`` scrapes every node): produced at most once per period,
concurrent callers sharing one production, however many ask."""

from __future__ import annotations

import asyncio

import pytest

from serve_app.cluster_metrics import ClusterMetrics
from serve_app.coalesced import Coalesced


class Scrapes:
    def __init__(self, fail: bool = False) -> None:
        self.count = 0
        self.fail = fail

    async def __call__(self) -> tuple[list[str], int]:
        self.count += 1
        await asyncio.sleep(0.05)
        if self.fail:
            raise ConnectionError("node down")
        return [], 0


async def test_a_burst_of_metrics_calls_scrapes_the_nodes_once() -> None:
    scrapes = Scrapes()
    cluster = ClusterMetrics({}, scrapes, max_age=60)
    answers = await asyncio.gather(*(cluster.exposition() for _ in range(200)))
    assert scrapes.count == 1
    assert len(set(answers)) == 1 and b"llmaas_metrics_unreachable_nodes" in answers[0]
    await cluster.exposition()
    assert scrapes.count == 1


async def test_an_old_answer_is_produced_again() -> None:
    scrapes = Scrapes()
    cluster = ClusterMetrics({}, scrapes, max_age=0.01)
    await cluster.exposition()
    await asyncio.sleep(0.02)
    await cluster.exposition()
    assert scrapes.count == 2


async def test_a_failed_production_fails_its_callers_and_the_next_call_tries_again() -> None:
    scrapes = Scrapes(fail=True)
    latest = Coalesced(scrapes, max_age=60)
    results = await asyncio.gather(*(latest.get() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results) and scrapes.count == 1
    with pytest.raises(ConnectionError):
        await latest.get()
    assert scrapes.count == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    scrapes = Scrapes()
    latest = Coalesced(scrapes, max_age=60)
    first = asyncio.ensure_future(latest.get())
    second = asyncio.ensure_future(latest.get())
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == ([], 0)
    assert scrapes.count == 1
