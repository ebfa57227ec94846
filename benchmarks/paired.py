"""Time to first token at concurrency 1, paired: bare vLLM and the platform up at once, the same prompt
sent to one and then to the other (the order alternating), one request at a time.

The separate phases of the run measure each system alone, minutes apart: between them the machine drifts
(other work, caches, the engine's warm state), and on 2 shared cores that drift is as large as the
difference sought. Here both sides of a pair run seconds apart on the same machine state, so the median of
the per-pair differences is what the platform's request path adds to the first token (HTTP, key check,
admission, guard, the hop to the model replica and back, SSE). It leaves out what the platform's idle
processes take from the engine: the separate phases' c=1 level includes that.

Two prompts: the workload's (about ``--prompt-tokens``, a fresh one per pair, so neither engine has it
cached; each engine sees it once) and a one-line prompt (the request path with the least engine work).
``max_tokens`` 1: the first token is the whole answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from benchmarks import load
from benchmarks.chat import Workload
from benchmarks.stats import RequestRecord, percentile, spread

PAIRED_SALT = 1000  # prompts of their own, none seen by either engine in the levels
PROMPTS = {"workload": "the levels' prompts", "short": "one-line prompt"}  # the two summaries, named
MIN_WARM_UP = 8  # a fresh vLLM answers its first prompts slower (kernels built per shape): warm both alike


async def _pairs(http: httpx.AsyncClient, bare_url: str, platform_url: str, api_key: str,
                 bodies: list[dict[str, Any]]) -> list[tuple[RequestRecord, RequestRecord]]:
    targets = {"bare": (f"{bare_url}/v1/chat/completions", {}),
               "platform": (f"{platform_url}/v1/chat/completions", {"Authorization": f"Bearer {api_key}"})}
    pairs = []
    for index, body in enumerate(bodies):
        order = ("bare", "platform") if index % 2 == 0 else ("platform", "bare")
        records = {}
        for system in order:
            url, headers = targets[system]
            records[system] = await load.stream_chat(http, url, headers, body, 0.0)
        pairs.append((records["bare"], records["platform"]))
    return pairs


def _summary(pairs: list[tuple[RequestRecord, RequestRecord]]) -> dict[str, object]:
    done = [(bare, ours) for bare, ours in pairs if bare.ok and ours.ok]
    added = [(ours.ttft - bare.ttft) * 1000 for bare, ours in done]
    return {"pairs": len(done), "errors": len(pairs) - len(done),
            "bare_ttft_ms": spread([bare.ttft * 1000 for bare, _ in done]),
            "platform_ttft_ms": spread([ours.ttft * 1000 for _, ours in done]),
            "added_ms": {**spread(added), "p25": percentile(added, 25), "p75": percentile(added, 75)}}


async def _measure(bare_url: str, platform_url: str, api_key: str, work: Workload, pairs: int
                   ) -> dict[str, object]:
    prompts = [{**body, "max_tokens": 1} for body in work.bodies(pairs, PAIRED_SALT)]
    warm_up = [{**body, "max_tokens": 1} for body in work.bodies(max(MIN_WARM_UP, pairs // 2), PAIRED_SALT - 1)]
    async with load.client() as http:
        await _pairs(http, bare_url, platform_url, api_key, warm_up)
        return {"workload": _summary(await _pairs(http, bare_url, platform_url, api_key, prompts)),
                "short": _summary(await _pairs(http, bare_url, platform_url, api_key, [work.short_body()] * pairs))}


def measure(bare_url: str, platform_url: str, api_key: str, work: Workload, pairs: int) -> dict[str, object]:
    """``{"workload": summary, "short": summary}`` (keys of :data:`PROMPTS`), each with the TTFT of both
    systems and the per-pair difference (platform - bare, ms)."""
    return asyncio.run(_measure(bare_url, platform_url, api_key, work, pairs))
