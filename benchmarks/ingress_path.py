"""The ingress's own Python cost, without Ray, sockets or an engine: the whole Starlette app in-process
(API-key check, admission, metering, metrics, guard, request parsing, SSE encoding) in front of a stand-in
engine that yields its chunks at once.

Prints the cost of a one-token chat completion and of each streamed chunk (a 256-token stream, minus the
one-token request), medians over alternating rounds. Use it to compare changes to the request path on the
same machine; it says nothing of the engine.

    .venv/bin/python -m benchmarks.ingress_path --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from deployments.llm_protocol import ChoiceDelta, GenerationChunk, GenerationRequest
from serve_app.catalog import Catalog
from serve_app.governance.meter import MeterCore
from serve_app.ingress import build_asgi_app
from serve_app.metrics import Metrics
from serve_app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "bench-admin"
STREAM_TOKENS = 256
CATALOG = Catalog.model_validate({"models": [
    {"id": "stand-in", "family": "Stand-in", "engine": "vllm", "source": "none",
     "capabilities": ["chat", "completions"], "context_length": 4096}]})


class InstantEngine:
    """Yields ``max_tokens`` one-word chunks without waiting."""

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        count = request.sampling.max_tokens or 1
        for position in range(1, count + 1):
            yield GenerationChunk([ChoiceDelta(0, " word", "length" if position == count else None)], 12, position)

    async def check_health(self) -> None:
        return None


class _Discard:
    """A metrics instrument that records nothing (Ray's metrics need a Ray worker)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def inc(self, *args: object, **kwargs: object) -> None:
        pass

    def observe(self, *args: object, **kwargs: object) -> None:
        pass

    def set(self, *args: object, **kwargs: object) -> None:
        pass


async def measure(requests: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data), admin_token=ADMIN, tiers=ROOT / "tiers.yaml",
                            status_prober=False)
        app = build_asgi_app(settings, CATALOG, {"stand-in": InstantEngine()}, MeterCore(settings),
                             recorder=Metrics(instrument=lambda family: _Discard()))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            created = await client.post("/admin/v1/keys", json={"name": "bench", "tier": "unlimited"},
                                        headers={"Authorization": f"Bearer {ADMIN}"})
            headers = {"Authorization": f"Bearer {created.json()['key']}"}
            short = {"model": "stand-in", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 1}
            streamed = {**short, "max_tokens": STREAM_TOKENS, "stream": True}
            one: list[float] = []
            stream: list[float] = []
            for _ in range(rounds):
                for body, samples in ((short, one), (streamed, stream)):
                    for _ in range(requests):
                        started = time.perf_counter()
                        answer = await client.post("/v1/chat/completions", json=body, headers=headers)
                        samples.append(time.perf_counter() - started)
                        answer.raise_for_status()
    request_ms = statistics.median(one) * 1000
    chunk_us = (statistics.median(stream) - statistics.median(one)) / STREAM_TOKENS * 1e6
    return {"request_ms": request_ms, "chunk_us": chunk_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(measure(args.requests, args.rounds))
    print(f"one-token chat completion: {result['request_ms']:.2f} ms per request (median)")
    print(f"streamed chunk:            {result['chunk_us']:.1f} us per chunk (median)")


if __name__ == "__main__":
    main()
