"""Every kind of limit raced by a burst of concurrent requests across the two ingress replicas, on the real
engines: the ledger never crosses a limit by more than the one request that crossed it, and what the ledger
and ``/v1/usage`` hold equals, exactly, the ``usage`` the clients were told."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Platform
from tests.integration.test_governance import wait_for_a_fresh_minute, wait_for_rows

MODEL = "tiny-llama"
EMBEDDER = "all-MiniLM-L6-v2"
Row = dict[str, Any]


@dataclass(frozen=True)
class Burst:
    """``size`` concurrent copies of one request against a key with ``quotas``; ``spent`` reads the limited
    amount from a ledger row, and ``limit`` is where it stops."""

    name: str
    quotas: dict[str, Any]
    path: str
    body: dict[str, Any]
    spent: Callable[[Row], float]
    limit: float
    size: int = 10
    minute_seconds: float = 0  # a per-minute limit: the seconds of one minute the burst needs
    expected_refusal: str = "rate_limit_exceeded"


def tokens(row: Row) -> float:
    return float(row["prompt_tokens"] + row["completion_tokens"])


def chat(content: str, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **fields}


BURSTS = [
    # No max_tokens and n=4: each request may generate the model's whole context (512) four times.
    Burst("tpm-n4-no-max-tokens", {"tokens_per_minute": 300}, "/v1/chat/completions", chat("Hi", n=4),
          tokens, 300, size=8, minute_seconds=45),
    # Tiny prompts: what the chat template adds is most of each request's tokens.
    Burst("tpd-tiny-prompts", {"tokens_per_day": 400}, "/v1/chat/completions", chat("Hi", max_tokens=4),
          tokens, 400, size=16),
    Burst("tpd-list-prompts", {"tokens_per_day": 250}, "/v1/completions",
          {"model": MODEL, "prompt": ["Once upon", "a time", "there"], "n": 2, "max_tokens": 6}, tokens, 250),
    Burst("output-per-hour-streams", {"output_tokens_per_hour": 60}, "/v1/chat/completions",
          chat("Tell a story.", max_tokens=12, stream=True, stream_options={"include_usage": True}),
          lambda row: float(row["completion_tokens"]), 60),
    Burst("spend-cap", {"monthly_spend_cap_usd": 0.00002}, "/v1/chat/completions", chat("Hello!", max_tokens=16),
          lambda row: float(row["cost_usd"]), 0.00002, expected_refusal="insufficient_quota"),
    Burst("rpm", {"requests_per_minute": 5}, "/v1/chat/completions", chat("Hi", max_tokens=2),
          lambda row: 1.0, 5, size=12, minute_seconds=20),
    Burst("embeddings-tpd", {"tokens_per_day": 200}, "/v1/embeddings",
          {"model": EMBEDDER, "input": ["a short text to embed", "another one", "x"]}, tokens, 200),
    # Far from its limit a replica admits from a lease; near it, the actor decides: the bound holds across both.
    Burst("rpm-with-leases", {"requests_per_minute": 60}, "/v1/embeddings", {"model": EMBEDDER, "input": "hello"},
          lambda row: 1.0, 60, size=90, minute_seconds=20),
]


def send(http: httpx.Client, burst: Burst) -> tuple[int, str, dict[str, Any] | None, str | None]:
    """(status, request id, the usage the client was told, the refusal's code)."""
    if burst.body.get("stream"):
        with http.stream("POST", burst.path, json=burst.body) as stream:
            if stream.status_code != 200:
                stream.read()
                return stream.status_code, stream.headers["x-request-id"], None, stream.json()["error"]["code"]
            events = [json.loads(line.removeprefix("data: ")) for line in stream.iter_lines()
                      if line.startswith("data: {")]
            return 200, stream.headers["x-request-id"], events[-1]["usage"], None
    answer = http.post(burst.path, json=burst.body)
    if answer.status_code != 200:
        return answer.status_code, answer.headers["x-request-id"], None, answer.json()["error"]["code"]
    return 200, answer.headers["x-request-id"], answer.json()["usage"], None


@pytest.mark.parametrize("burst", BURSTS, ids=[burst.name for burst in BURSTS])
def test_a_burst_crosses_a_limit_by_one_request_at_most_and_the_ledger_equals_what_clients_were_told(
        platform: Platform, burst: Burst) -> None:
    key_id, secret = platform.create_key(f"burst-{burst.name}", quotas=burst.quotas)
    if burst.minute_seconds:
        wait_for_a_fresh_minute(burst.minute_seconds)
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=0)  # new connections: both replicas
    with httpx.Client(base_url=platform.base_url, timeout=300, limits=limits,
                      headers={"Authorization": f"Bearer {secret}"}) as http, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: send(http, burst), range(burst.size)))
    served = [(request_id, usage) for status, request_id, usage, _ in answers if status == 200]
    refusals = {code for status, _, _, code in answers if status != 200}
    assert served and refusals == {burst.expected_refusal}, answers
    rows = {row["request_id"]: row for row in wait_for_rows(platform, key_id, len(served))}
    assert set(rows) == {request_id for request_id, _ in served}  # refused requests are not billed
    told_prompt = sum(usage["prompt_tokens"] for _, usage in served if usage)
    told_completion = sum(usage.get("completion_tokens", 0) for _, usage in served if usage)
    assert sum(row["prompt_tokens"] for row in rows.values()) == told_prompt
    assert sum(row["completion_tokens"] for row in rows.values()) == told_completion
    spent = [burst.spent(row) for row in rows.values()]
    assert sum(spent) <= burst.limit + max(spent), (burst.name, sorted(spent), burst.limit)
    totals = http_usage(platform, secret)
    assert (totals["requests"], totals["prompt_tokens"], totals["completion_tokens"]) == (
        len(served), told_prompt, told_completion)


def http_usage(platform: Platform, secret: str) -> dict[str, Any]:
    answer = httpx.get(f"{platform.base_url}/v1/usage", headers={"Authorization": f"Bearer {secret}"}, timeout=60)
    assert answer.status_code == 200, answer.text
    totals: dict[str, Any] = answer.json()["totals"]
    return totals


def test_concurrent_streams_never_exceed_the_keys_bound(platform: Platform) -> None:
    """Streams are timed by the client from their first byte to their last: the slot is held at the metering
    actor for at least that long, so the client can never see more overlapping than the bound."""
    _, secret = platform.create_key("burst-streams", quotas={"max_concurrent_streams": 2})
    body = chat("Tell a long story.", max_tokens=40, stream=True)

    def one(_: int) -> tuple[int, float, float]:
        with httpx.Client(base_url=platform.base_url, timeout=300,
                          headers={"Authorization": f"Bearer {secret}"}) as http, \
                http.stream("POST", "/v1/chat/completions", json=body) as stream:
            opened = time.monotonic()
            for _line in stream.iter_lines():
                pass
            return stream.status_code, opened, time.monotonic()

    with ThreadPoolExecutor(10) as pool:
        streams = list(pool.map(one, range(10)))
    served = [(opened, closed) for status, opened, closed in streams if status == 200]
    assert [status for status, _, _ in streams].count(429) > 0
    most_open = max(sum(1 for o, c in served if o <= moment < c) for moment, _ in served)
    assert most_open <= 2, served


def test_an_organisations_contract_holds_for_all_its_keys_together(platform: Platform) -> None:
    """Two keys of one organisation, each well within its own quotas, raced together across both replicas: the
    organisation's tokens per day stop at its contract (by one request at most), and an organisation's refusal
    says so."""
    created = httpx.post(f"{platform.base_url}/admin/v1/organisations", headers=platform.admin_headers, timeout=30,
                         json={"id": "org_burst", "name": "Burst", "contract": {"tokens_per_day": 400}})
    assert created.status_code == 200, created.text
    keys = [platform.create_key(f"org-burst-{index}", organisation="org_burst") for index in range(2)]
    body = chat("Hi", max_tokens=4)

    def one(index: int) -> tuple[int, str, dict[str, Any] | None, str | None]:
        with httpx.Client(base_url=platform.base_url, timeout=300,
                          headers={"Authorization": f"Bearer {keys[index % 2][1]}"}) as http:
            answer = http.post("/v1/chat/completions", json=body)
            if answer.status_code != 200:
                error = answer.json()["error"]
                assert "your organisation" in error["message"], error
                return answer.status_code, answer.headers["x-request-id"], None, error["code"]
            return 200, answer.headers["x-request-id"], answer.json()["usage"], None

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(20)))
    served = [usage for status, _, usage, _ in answers if status == 200]
    assert served and {code for status, _, _, code in answers if status != 200} == {"rate_limit_exceeded"}
    rows = [row for key_id, _ in keys for row in wait_for_rows(platform, key_id, 1)]
    deadline = time.monotonic() + 60
    while len(rows) < len(served) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = [row for key_id, _ in keys for row in wait_for_rows(platform, key_id, 1)]
    spent = [tokens(row) for row in rows]
    assert len(rows) == len(served) and sum(spent) == sum(u["total_tokens"] for u in served if u)
    assert sum(spent) <= 400 + max(spent), sorted(spent)
    usage = httpx.get(f"{platform.base_url}/admin/v1/usage?organisation=org_burst&group_by=organisation_id",
                      headers=platform.admin_headers, timeout=30).json()
    assert usage["totals"]["total_tokens"] == sum(spent)
