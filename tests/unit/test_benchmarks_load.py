"""The load generator against a stand-in OpenAI server: stream parsing, errors, closed and open loops."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from benchmarks.load import arrival_times, closed_loop, open_loop, read_event, stream_chat
from benchmarks.stats import RequestRecord

URL = "http://bench.test/v1/chat/completions"


def chunk(content: str | None = None, usage: dict[str, int] | None = None) -> str:
    delta = {"content": content} if content is not None else {}
    choices = [{"index": 0, "delta": delta, "finish_reason": None}] if usage is None else []
    body: dict[str, object] = {"id": "c", "object": "chat.completion.chunk", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n"


async def chat(request: Request) -> Response:
    mode = (await request.json())["mode"]
    if mode == "overloaded":
        return JSONResponse({"error": {"message": "busy", "type": "server_error"}}, status_code=503)

    async def events() -> object:
        yield chunk("")  # the role chunk: no text
        yield chunk("Hello")
        yield chunk(" world")
        if mode == "broken":
            yield 'data: {"error": {"message": "engine died", "type": "server_error"}}\n\n'
        yield chunk("!")
        yield chunk(usage={"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11})
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")  # type: ignore[arg-type]


@pytest.fixture
async def http() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        yield client  # type: ignore[misc]


async def test_a_stream_is_timed_per_text_chunk_and_counted_by_the_servers_usage(http: httpx.AsyncClient) -> None:
    record = await stream_chat(http, URL, {}, {"mode": "ok"}, time.perf_counter())
    assert record.ok
    assert len(record.token_times) == 3  # the empty role chunk is not a token
    assert (record.prompt_tokens, record.output_tokens) == (7, 4)
    assert record.start <= record.token_times[0] <= record.token_times[-1] <= record.end


async def test_an_http_error_and_an_error_event_are_errors(http: httpx.AsyncClient) -> None:
    overloaded = await stream_chat(http, URL, {}, {"mode": "overloaded"}, time.perf_counter())
    broken = await stream_chat(http, URL, {}, {"mode": "broken"}, time.perf_counter())
    assert overloaded.error == "HTTP 503"
    assert broken.error == "error event"


async def test_an_unreachable_server_is_an_error_not_a_crash() -> None:
    async with httpx.AsyncClient() as client:
        record = await stream_chat(client, "http://127.0.0.1:9/v1/chat/completions", {}, {}, time.perf_counter())
    assert record.error == "ConnectError"


def test_read_event_takes_text_usage_and_the_end() -> None:
    record = RequestRecord(start=0, end=0)
    assert read_event('{"choices":[{"delta":{"content":""}}]}', record, 1.0)
    assert read_event('{"choices":[{"delta":{"content":"Hi"}}],"usage":null}', record, 2.0)
    assert read_event('{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9}}', record, 3.0)
    assert not read_event("[DONE]", record, 4.0)
    assert record.token_times == [2.0]
    assert (record.prompt_tokens, record.output_tokens) == (3, 9)
    assert record.ok


async def test_a_closed_loop_keeps_at_most_its_concurrency_in_flight_and_sends_everything_once() -> None:
    in_flight, peak, seen = 0, 0, []

    async def send(payload: int, origin: float) -> RequestRecord:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        seen.append(payload)
        in_flight -= 1
        return RequestRecord(start=0, end=0, units=payload)

    records = await closed_loop(send, list(range(20)), concurrency=4)
    assert peak == 4
    assert sorted(seen) == list(range(20))
    assert [record.units for record in records] == list(range(20))  # in payload order


async def test_an_open_loop_sends_every_payload_without_waiting_for_answers() -> None:
    release = asyncio.Event()
    started = []

    async def send(payload: int, origin: float) -> RequestRecord:
        started.append(payload)
        if len(started) == 5:
            release.set()
        # No answer comes back until every request has been sent (a loop that waited would fail here, not hang).
        await asyncio.wait_for(release.wait(), timeout=30)
        return RequestRecord(start=0, end=0, units=payload)

    records = await open_loop(send, list(range(5)), rate=1000.0, seed=1)
    assert [record.units for record in records] == list(range(5))


def test_poisson_arrivals_are_reproducible_and_have_the_asked_mean_rate() -> None:
    times = arrival_times(20_000, rate=4.0, seed=7)
    assert times == arrival_times(20_000, rate=4.0, seed=7)
    assert times[0] == 0 and times == sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(0.25, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(0.25, rel=0.05)  # exponential: sd equals mean
    with pytest.raises(ValueError, match="positive"):
        arrival_times(3, rate=0, seed=0)
