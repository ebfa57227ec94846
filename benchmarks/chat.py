"""Streaming chat: the same levels of load against any OpenAI-compatible server (bare vLLM or the platform)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks import cpu, load, workload
from benchmarks.stats import RequestRecord, summarize

WARMUP_REQUESTS = 2
IDLE_SECONDS = 5.0  # after the warm-up, nothing sent: what the system costs at rest
SHORT_REQUESTS = 20  # then one-token answers to a one-line prompt, one at a time: the request path's own cost


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

    def short_body(self) -> dict[str, Any]:
        return {"model": self.model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 1,
                "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}


@dataclass
class Measured:
    idle_cpu_cores: dict[str, float]
    short_requests: dict[str, object] = field(default_factory=dict)
    levels: list[dict[str, object]] = field(default_factory=list)


def levels(concurrencies: Sequence[int], rates: Sequence[float], requests: int) -> list[Level]:
    """Closed-loop levels get at least two requests per stream, so every stream is measured past its first."""
    return ([Level("concurrency", c, max(requests, 2 * c)) for c in concurrencies]
            + [Level("rate", r, requests) for r in rates])


async def _run(system: str, base_url: str, api_key: str, work: Workload, plan: Sequence[Level]) -> Measured:
    url = f"{base_url}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"}
    async with load.client() as http:

        async def send(body: dict[str, Any], origin: float) -> RequestRecord:
            return await load.stream_chat(http, url, headers, body, origin)

        for record in await load.closed_loop(send, work.bodies(WARMUP_REQUESTS, -1), 1):
            if not record.ok:
                raise RuntimeError(f"warm-up request to {base_url} failed: {record.error}")
        with cpu.metered() as idle:
            await asyncio.sleep(IDLE_SECONDS)
        measured = Measured(idle_cpu_cores=idle)
        short = await load.closed_loop(send, [work.short_body()] * SHORT_REQUESTS, 1)
        measured.short_requests = summarize(system, "short", short)
        for index, level in enumerate(plan):
            bodies = work.bodies(level.requests, index)
            with cpu.metered() as cores:
                if level.kind == "concurrency":
                    records = await load.closed_loop(send, bodies, int(level.value))
                else:
                    records = await load.open_loop(send, bodies, level.value, work.seed + index)
            measured.levels.append({**summarize(system, level.label, records), "cpu_cores": cores})
        return measured


def measure(system: str, base_url: str, api_key: str, work: Workload, plan: Sequence[Level]) -> Measured:
    """Against one server: the cores it uses at rest, short requests one at a time, then every level in turn."""
    return asyncio.run(_run(system, base_url, api_key, work, plan))
