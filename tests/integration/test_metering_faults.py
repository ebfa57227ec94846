"""Metering when parts of the platform die: an ingress replica killed under load, and the reservations that a
replica which died can no longer report or renew (README, "Tiers, quotas and metering")."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import ray
from ray import serve
from ray.util.state import list_actors

from serve_app.governance.meter import NAMESPACE, RESERVATION_SECONDS, actor_name
from serve_app.governance.quotas import Measure, Quotas
from serve_app.governance.records import AdmissionRequest
from tests.integration.conftest import APP_NAME, Platform, wait_until_healthy
from tests.integration.test_governance import wait_for_rows

MODEL = "tiny-llama"
STREAM = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "stream": True}


def test_a_stream_slot_held_by_a_replica_that_died_comes_back_within_the_reservation_time(
        platform: Platform) -> None:
    key_id, secret = platform.create_key("dead-replica-slot", quotas={"max_concurrent_streams": 1})
    limit = Quotas(max_concurrent_streams=1).stream_limit()
    assert limit is not None
    headers = {"Authorization": f"Bearer {secret}"}
    warm = httpx.post(f"{platform.base_url}/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "hi"},
                      headers=headers, timeout=60)  # the first metered request creates the metering actor
    assert warm.status_code == 200, warm.text
    meter = ray.get_actor(actor_name(platform.settings), namespace=NAMESPACE)
    # What an ingress replica holds for a stream it is serving when it dies: it will never report nor renew it.
    held = ray.get(meter.admit.remote(AdmissionRequest(key_id, "req_of_a_dead_replica", (limit,),
                                                       {Measure.STREAMS: 1.0})))
    assert held.admitted
    started = time.monotonic()
    with httpx.Client(base_url=platform.base_url, timeout=120, headers=headers) as http:
        def stream_status() -> int:
            with http.stream("POST", "/v1/chat/completions", json=STREAM) as stream:
                stream.read()
                return stream.status_code

        assert stream_status() == 429
        while (status := stream_status()) == 429:
            assert time.monotonic() - started < RESERVATION_SECONDS + 30, "the dead replica's slot never came back"
            time.sleep(3)
    assert status == 200
    assert time.monotonic() - started >= RESERVATION_SECONDS - 5  # and not before its time


def ingress_replicas() -> list[str]:
    return [actor.name for actor in list_actors(filters=[("state", "=", "ALIVE")])
            if actor.name and actor.name.startswith(f"SERVE_REPLICA::{APP_NAME}#Ingress#")]


def test_an_ingress_replica_killed_under_load_loses_nothing_that_was_answered_before(platform: Platform) -> None:
    key_id, secret = platform.create_key("killed-ingress")
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"model": "all-MiniLM-L6-v2", "input": "metered before the crash"}
    answered: list[tuple[float, str, int]] = []  # (when the answer arrived, request id, tokens told)
    stop = threading.Event()

    def load(_: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each time: both replicas
        with httpx.Client(base_url=platform.base_url, timeout=60, headers=headers, limits=limits) as http:
            while not stop.is_set():
                try:
                    answer = http.post("/v1/embeddings", json=body)
                except httpx.HTTPError:
                    continue  # a request on the replica that died
                if answer.status_code == 200:
                    answered.append((time.monotonic(), answer.headers["x-request-id"],
                                     answer.json()["usage"]["prompt_tokens"]))

    victims = ingress_replicas()
    assert len(victims) == 2
    with ThreadPoolExecutor(4) as pool:
        workers = [pool.submit(load, n) for n in range(4)]
        time.sleep(4)
        killed_at = time.monotonic()
        ray.kill(ray.get_actor(victims[0], namespace="serve"), no_restart=False)
        time.sleep(4)
        stop.set()
        for worker in workers:
            worker.result()
    before = [(rid, told) for at, rid, told in answered if at < killed_at - 1.0]
    assert before and len(answered) > len(before)  # answers kept coming from the other replica
    rows = {row["request_id"]: row for row in wait_for_rows(platform, key_id, len(answered), timeout=30)}
    assert all(rid in rows for rid, _ in before)  # every answer older than a second is in the ledger
    assert all(rows[rid]["prompt_tokens"] == told for rid, told in before)
    deadline = time.monotonic() + 180  # Serve replaces the replica
    while serve.status().applications[APP_NAME].deployments["Ingress"].replica_states.get("RUNNING") != 2:
        assert time.monotonic() < deadline, "the killed ingress replica was not replaced"
        time.sleep(1)
    wait_until_healthy(platform.base_url)


def test_an_embeddings_request_whose_last_slice_fails_is_billed_for_the_slices_encoded(platform: Platform) -> None:
    key_id, secret = platform.create_key("failing-slice")
    headers = {"Authorization": f"Bearer {secret}"}
    encoded = [f"sentence number {n} about metering" for n in range(64)]  # the first slice: 64 inputs
    too_long = " ".join(["word"] * 600)  # more tokens than the model's 256
    with httpx.Client(base_url=platform.base_url, timeout=120, headers=headers) as http:
        alone = http.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": encoded})
        failed = http.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": [*encoded, "x", too_long]})
    assert alone.status_code == 200 and failed.status_code == 400, failed.text
    assert failed.json()["error"]["code"] == "context_length_exceeded"
    rows = {row["request_id"]: row for row in wait_for_rows(platform, key_id, 2)}
    row = rows[failed.headers["x-request-id"]]
    assert (row["outcome"], row["prompt_tokens"]) == ("error", alone.json()["usage"]["prompt_tokens"])


def test_usage_survives_the_database_stopping_and_starting_under_load(platform: Platform) -> None:
    """README, "When the database is down": requests whose key cannot be checked are 503s, every request that
    was answered is in the ledger once the database is back, exactly once, and the platform serves again."""
    if platform.postgres is None:
        pytest.skip("the session's platform runs on SQLite (make test-postgres runs it on PostgreSQL)")
    key_id, secret = platform.create_key("database-outage")
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"model": "tiny-llama", "messages": [{"role": "user", "content": "Count."}], "max_tokens": 24}
    answered: dict[str, int] = {}  # request id -> total tokens the client was told
    refusals: list[str] = []
    stop = threading.Event()

    def load(_: int) -> None:
        with httpx.Client(base_url=platform.base_url, timeout=120, headers=headers) as http:
            while not stop.is_set():
                answer = http.post("/v1/chat/completions", json=body)
                if answer.status_code == 200:
                    answered[answer.headers["x-request-id"]] = answer.json()["usage"]["total_tokens"]
                else:
                    refusals.append(answer.json()["error"]["code"])
                    time.sleep(0.2)

    with ThreadPoolExecutor(3) as pool:
        workers = [pool.submit(load, n) for n in range(3)]
        time.sleep(3)
        platform.postgres.stop()  # requests in flight finish; their usage is spooled by the metering actor
        time.sleep(6)
        platform.postgres.start()
        time.sleep(6)
        stop.set()
        for worker in workers:
            worker.result()
    assert set(refusals) <= {"database_unavailable"} and refusals, refusals
    rows = wait_for_rows(platform, key_id, len(answered), timeout=60)
    assert {row["request_id"] for row in rows} == set(answered)
    assert sum(row["prompt_tokens"] + row["completion_tokens"] for row in rows) == sum(answered.values())
    usage = httpx.get(f"{platform.base_url}/v1/usage", headers=headers, timeout=60).json()["totals"]
    assert usage["requests"] == len(answered)
