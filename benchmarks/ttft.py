"""Time to first token and streaming speed: the platform against bare vLLM's OpenAI server, in one run.

    .venv/bin/python -m benchmarks.ttft [--model SmolLM2-135M-Instruct] [--requests 30] [--max-tokens 64]

Both serve the same model folder with the same engine settings (taken from the CPU catalog), one after
the other on the same machine, and are driven by the same streaming client. Prints a table with the
platform / bare ratios and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]


@dataclass
class Sample:
    ttft_ms: float
    total_ms: float
    chunks: int


@dataclass
class Summary:
    system: str
    concurrency: int
    requests: int
    ttft_p50_ms: float
    ttft_p90_ms: float
    total_p50_ms: float
    chunks_per_s: float


async def _one(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, object]) -> Sample:
    start = time.perf_counter()
    first = 0.0
    chunks = 0
    async with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
                chunks += 1
                first = first or time.perf_counter()
    end = time.perf_counter()
    return Sample((first - start) * 1000, (end - start) * 1000, chunks)


async def drive(base_url: str, api_key: str, model: str, requests: int, concurrency: int,
                max_tokens: int) -> list[Sample]:
    body = {"model": model, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0, "stream": True}
    headers = {"Authorization": f"Bearer {api_key}"}
    url = f"{base_url}/v1/chat/completions"
    limit = asyncio.Semaphore(concurrency)

    async def bounded(client: httpx.AsyncClient) -> Sample:
        async with limit:
            return await _one(client, url, headers, body)

    async with httpx.AsyncClient(timeout=300) as client:
        await _one(client, url, headers, body)  # warm-up
        return list(await asyncio.gather(*(bounded(client) for _ in range(requests))))


def summarize(system: str, concurrency: int, samples: list[Sample]) -> Summary:
    ttfts = sorted(s.ttft_ms for s in samples)
    wall_s = sum(s.total_ms for s in samples) / 1000 / concurrency
    return Summary(system, concurrency, len(samples), statistics.median(ttfts),
                   ttfts[int(0.9 * (len(ttfts) - 1))], statistics.median(s.total_ms for s in samples),
                   sum(s.chunks for s in samples) / wall_s)


def _wait_ready(url: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(url)


@contextmanager
def bare_vllm(model_dir: Path, model: str, context: int, env: dict[str, str], port: int) -> Iterator[str]:
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--served-model-name", model, "--dtype", "float32", "--enforce-eager", "--max-model-len",
               str(context), "--max-num-seqs", "32", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextmanager
def platform_app(model: str, port: int, data_dir: Path) -> Iterator[tuple[str, str]]:
    import ray
    from ray import serve

    from serve_app.app import build_app_from
    from serve_app.catalog import Catalog, load_catalog
    from serve_app.settings import Settings

    catalog = load_catalog(ROOT / "catalog.cpu.yaml")
    only = Catalog(models=[m for m in catalog.models if m.id == model])
    settings = Settings(data_dir=data_dir, models_dir=ROOT / ".models", admin_token="bench").resolved(ROOT)
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app_from(settings, only), name="bench", route_prefix="/", blocking=False)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/health")
        key = httpx.post(f"{base}/admin/v1/keys", json={"name": "bench"},
                         headers={"Authorization": "Bearer bench"}).json()["key"]
        yield base, key
    finally:
        serve.shutdown()
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()

    from serve_app.catalog import load_catalog

    entry = load_catalog(ROOT / "catalog.cpu.yaml").get(args.model)
    assert entry is not None, f"{args.model} is not in the CPU catalog"
    results: list[Summary] = []
    with bare_vllm(ROOT / ".models" / entry.source, args.model, entry.context_length, entry.engine_env,
                   18123) as base:
        for concurrency in args.concurrency:
            samples = asyncio.run(drive(base, "unused", args.model, args.requests, concurrency, args.max_tokens))
            results.append(summarize("bare-vllm", concurrency, samples))
    data_dir = ROOT / ".data" / "bench"
    with platform_app(args.model, 18124, data_dir) as (base, key):
        for concurrency in args.concurrency:
            samples = asyncio.run(drive(base, key, args.model, args.requests, concurrency, args.max_tokens))
            results.append(summarize("platform", concurrency, samples))
    report(results, args)


def report(results: list[Summary], args: argparse.Namespace) -> None:
    print(f"\n{'system':<10} {'conc':>4} {'TTFT p50':>9} {'TTFT p90':>9} {'e2e p50':>9} {'chunks/s':>9}")
    for r in results:
        print(f"{r.system:<10} {r.concurrency:>4} {r.ttft_p50_ms:>8.1f}ms {r.ttft_p90_ms:>8.1f}ms "
              f"{r.total_p50_ms:>8.1f}ms {r.chunks_per_s:>9.1f}")
    by_key = {(r.system, r.concurrency): r for r in results}
    for concurrency in args.concurrency:
        bare, ours = by_key[("bare-vllm", concurrency)], by_key[("platform", concurrency)]
        print(f"concurrency {concurrency}: TTFT p50 +{ours.ttft_p50_ms - bare.ttft_p50_ms:.1f} ms "
              f"(ratio {ours.ttft_p50_ms / bare.ttft_p50_ms:.2f}), "
              f"throughput ratio {ours.chunks_per_s / bare.chunks_per_s:.2f}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"ttft-{stamp}.json").write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": host.platform(), "python": host.python_version()},
        "settings": vars(args), "results": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()
