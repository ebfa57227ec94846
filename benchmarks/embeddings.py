"""Embeddings: the platform's ``/v1/embeddings`` against bare sentence-transformers on the same inputs, and
against peer servers' ``/v1/embeddings`` (vLLM's OpenAI server with its pooling runner) at the same levels.

A level is ``inputs per request x concurrent requests``. The bare library (in-process sentence-transformers,
whatever engine the catalog entry names) gets the same inputs with the batching a server can do at its best:
the inputs of ``concurrency`` requests encoded in one ``encode`` call, with the entry's ``batch_size`` (32 by
default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks import bare, cpu, load
from benchmarks.stats import RequestRecord, summarize_calls, summarize_units
from serve_app.catalog import ModelEntry

MAX_MERGED_REQUESTS = 32  # requests merged into one bare encode call at most


@dataclass(frozen=True)
class Level:
    inputs_per_request: int
    concurrency: int

    @property
    def label(self) -> str:
        return f"{self.inputs_per_request} in/req, c={self.concurrency}"

    def requests(self, inputs: Sequence[str]) -> list[list[str]]:
        size = self.inputs_per_request
        return [list(inputs[start:start + size]) for start in range(0, len(inputs), size)]

    def bare_groups(self, inputs: Sequence[str]) -> list[list[str]]:
        size = self.inputs_per_request * min(self.concurrency, MAX_MERGED_REQUESTS)
        return [list(inputs[start:start + size]) for start in range(0, len(inputs), size)]


def parse_level(text: str) -> Level:
    """``"32x4"``: 32 inputs per request, 4 requests at a time."""
    size, _, concurrency = text.lower().partition("x")
    level = Level(int(size), int(concurrency or 1))
    if level.inputs_per_request < 1 or level.concurrency < 1:
        raise ValueError(f"embedding level {text!r}: both numbers must be positive")
    return level


async def _served(base_url: str, api_key: str, model: str, inputs: Sequence[str], plan: Sequence[Level]
                    ) -> list[tuple[list[RequestRecord], dict[str, float]]]:
    url = f"{base_url}/v1/embeddings"
    headers = {"Authorization": f"Bearer {api_key}"}
    async with load.client() as http:

        async def send(texts: list[str], origin: float) -> RequestRecord:
            record = RequestRecord(start=time.perf_counter() - origin, end=0.0, units=len(texts))
            try:
                response = await http.post(url, json={"model": model, "input": texts}, headers=headers)
                if response.status_code != 200:
                    record.error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                record.error = type(exc).__name__
            record.end = time.perf_counter() - origin
            return record

        await send(list(inputs[:8]), time.perf_counter())  # warm-up
        results = []
        for level in plan:
            with cpu.metered() as cores:
                records = await load.closed_loop(send, level.requests(inputs), level.concurrency)
            results.append((records, cores))
        return results


def measure_server(system: str, base_url: str, api_key: str, model: str, inputs: Sequence[str],
                   plan: Sequence[Level]) -> list[dict[str, object]]:
    """An OpenAI-compatible ``/v1/embeddings`` (the platform's, a peer's) at every level; one summary per level."""
    records = asyncio.run(_served(base_url, api_key, model, inputs, plan))
    return [{**summarize_units(system, level.label, level_records), "cpu_cores": cores}
            for level, (level_records, cores) in zip(plan, records, strict=True)]


def measure_platform(base_url: str, api_key: str, model: str, inputs: Sequence[str], plan: Sequence[Level]
                     ) -> list[dict[str, object]]:
    return measure_server("platform", base_url, api_key, model, inputs, plan)


def measure_bare(entry: ModelEntry, models_dir: Path, inputs: Sequence[str], plan: Sequence[Level]
                 ) -> list[dict[str, object]]:
    """One subprocess for every level (the model loads once); one summary per level."""
    groups = [level.bare_groups(inputs) for level in plan]
    spec = {"kind": "embeddings", "model_dir": str(models_dir / entry.source), "engine_args": entry.engine_args,
            "groups": [group for level_groups in groups for group in level_groups]}
    with cpu.metered() as cores:  # the whole subprocess, model loading included
        seconds = bare.run(spec, entry.engine_env)
    summaries, start = [], 0
    for level, level_groups in zip(plan, groups, strict=True):
        level_seconds = seconds[start:start + len(level_groups)]
        start += len(level_groups)
        summaries.append({**summarize_calls("bare", level.label, level_seconds, len(inputs)), "cpu_cores": cores})
    return summaries
