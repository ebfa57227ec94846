"""Load generation: a small async httpx client, closed-loop (fixed concurrency) and open-loop (Poisson arrivals).

The same client drives bare vLLM and the platform, so both pay the same client-side cost (it shares the
machine's cores with the server). It does as little as it can per chunk: a substring test for text, and
JSON parsing only of the chunk that carries ``usage``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx

from benchmarks.stats import RequestRecord

Payload = TypeVar("Payload")
Send = Callable[[Payload, float], Awaitable[RequestRecord]]
CLIENT_TIMEOUT_S = 600.0


def client() -> httpx.AsyncClient:
    """One connection per in-flight request, no pool limit, no timeout short of a stuck server."""
    return httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S, limits=httpx.Limits(max_connections=None,
                                                                            max_keepalive_connections=None))


def read_event(payload: str, record: RequestRecord, now: float) -> bool:
    """Takes one SSE ``data:`` payload into ``record``; False once the stream is over."""
    if payload == "[DONE]":
        return False
    if payload.startswith('{"error"') or '"object":"error"' in payload:
        record.error = "error event"
        return False
    if '"content":"' in payload and '"content":""' not in payload:
        record.token_times.append(now)
    if '"usage":{' in payload:
        usage = json.loads(payload)["usage"]
        record.prompt_tokens = int(usage["prompt_tokens"])
        record.output_tokens = int(usage["completion_tokens"])
    return True


async def stream_chat(http: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any],
                      origin: float) -> RequestRecord:
    """One streamed chat completion; times relative to ``origin`` (a ``perf_counter`` reading)."""
    record = RequestRecord(start=time.perf_counter() - origin, end=0.0)
    try:
        async with http.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                record.error = f"HTTP {response.status_code}"
            else:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and not read_event(line[6:], record, time.perf_counter() - origin):
                        break
    except httpx.HTTPError as exc:
        record.error = type(exc).__name__
    record.end = time.perf_counter() - origin
    if record.ok and not record.output_tokens:
        record.output_tokens = len(record.token_times)
    if record.ok and not record.token_times:
        record.error = "no tokens"
    return record


async def closed_loop(send: Send[Payload], payloads: Sequence[Payload], concurrency: int) -> list[RequestRecord]:
    """``concurrency`` workers, each sending the next payload as soon as its previous answer is complete."""
    origin = time.perf_counter()
    queue = iter(enumerate(payloads))
    records: list[RequestRecord | None] = [None] * len(payloads)

    async def worker() -> None:
        for index, payload in queue:
            records[index] = await send(payload, origin)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(payloads)))))
    return [record for record in records if record is not None]


def arrival_times(count: int, rate: float, seed: int) -> list[float]:
    """Poisson arrivals: ``count`` send times (seconds from 0) with exponential gaps of mean ``1 / rate``."""
    if rate <= 0:
        raise ValueError(f"arrival rate {rate} must be positive")
    draw = random.Random(seed)
    times, now = [], 0.0
    for _ in range(count):
        times.append(now)
        now += draw.expovariate(rate)
    return times


async def open_loop(send: Send[Payload], payloads: Sequence[Payload], rate: float, seed: int) -> list[RequestRecord]:
    """Sends each payload at its Poisson arrival time, whether or not earlier answers have come back."""
    origin = time.perf_counter()

    async def at(delay: float, payload: Payload) -> RequestRecord:
        await asyncio.sleep(max(0.0, delay - (time.perf_counter() - origin)))
        return await send(payload, origin)

    times = arrival_times(len(payloads), rate, seed)
    return list(await asyncio.gather(*(at(delay, payload) for delay, payload in zip(times, payloads, strict=True))))
