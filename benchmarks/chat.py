"""Streaming chat: the same levels of load against any OpenAI-compatible server (bare vLLM or the platform)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from benchmarks import load, workload
from benchmarks.stats import RequestRecord, summarize

WARMUP_REQUESTS = 2


@dataclass(frozen=True)
class Level:
    kind: Literal["concurrency", "rate"]
    value: float
    requests: int

    @property
    def label(self) -> str:
        return f"c={self.value:g}" if self.kind == "concurrency" else f"{self.value:g} req/s"


@dataclass(frozen=True)
class Workload:
    model: str
    prompt_tokens: int
    spread: float
    max_tokens: int
    seed: int

    def bodies(self, count: int, salt: int) -> list[dict[str, Any]]:
        return workload.chat_bodies(self.model, count, self.prompt_tokens, self.spread, self.max_tokens,
                                    self.seed + salt)


def levels(concurrencies: Sequence[int], rates: Sequence[float], requests: int) -> list[Level]:
    """Closed-loop levels get at least two requests per stream, so every stream is measured past its first."""
    return ([Level("concurrency", c, max(requests, 2 * c)) for c in concurrencies]
            + [Level("rate", r, requests) for r in rates])


async def _run(base_url: str, api_key: str, work: Workload, plan: Sequence[Level], seed: int
               ) -> list[list[RequestRecord]]:
    url = f"{base_url}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"}
    async with load.client() as http:

        async def send(body: dict[str, Any], origin: float) -> RequestRecord:
            return await load.stream_chat(http, url, headers, body, origin)

        for record in await load.closed_loop(send, work.bodies(WARMUP_REQUESTS, -1), 1):
            if not record.ok:
                raise RuntimeError(f"warm-up request to {base_url} failed: {record.error}")
        results = []
        for index, level in enumerate(plan):
            bodies = work.bodies(level.requests, index)
            if level.kind == "concurrency":
                results.append(await load.closed_loop(send, bodies, int(level.value)))
            else:
                results.append(await load.open_loop(send, bodies, level.value, seed + index))
        return results


def measure(system: str, base_url: str, api_key: str, work: Workload, plan: Sequence[Level]) -> list[dict[str, object]]:
    """Every level in turn against one server; one summary per level."""
    records = asyncio.run(_run(base_url, api_key, work, plan, work.seed))
    return [summarize(system, level.label, level_records) for level, level_records in zip(plan, records, strict=True)]

