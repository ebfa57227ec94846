"""Transcription: the platform's ``/v1/audio/transcriptions`` against bare faster-whisper on the same clips.

Throughput is in audio seconds per second. Each clip is sent ``repeats`` times; the bare library
transcribes the same files one after the other, with the replica's settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from benchmarks import bare, cpu, load
from benchmarks.stats import RequestRecord, summarize_calls, summarize_units
from benchmarks.workload import Clip
from serve_app.catalog import ModelEntry

LANGUAGE = "en"


def label(concurrency: int) -> str:
    return f"c={concurrency}"


async def _platform(base_url: str, api_key: str, model: str, clips: Sequence[Clip], concurrencies: Sequence[int]
                    ) -> list[tuple[list[RequestRecord], dict[str, float]]]:
    url = f"{base_url}/v1/audio/transcriptions"
    headers = {"Authorization": f"Bearer {api_key}"}
    audio = {clip.name: clip.path.read_bytes() for clip in clips}
    async with load.client() as http:

        async def send(clip: Clip, origin: float) -> RequestRecord:
            record = RequestRecord(start=time.perf_counter() - origin, end=0.0, units=clip.seconds)
            form = {"model": model, "language": LANGUAGE, "response_format": "json"}
            try:
                response = await http.post(url, data=form, files={"file": (clip.path.name, audio[clip.name],
                                                                            "audio/wav")}, headers=headers)
                if response.status_code != 200:
                    record.error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                record.error = type(exc).__name__
            record.end = time.perf_counter() - origin
            return record

        await send(clips[0], time.perf_counter())  # warm-up
        results = []
        for concurrency in concurrencies:
            with cpu.metered() as cores:
                records = await load.closed_loop(send, clips, concurrency)
            results.append((records, cores))
        return results


def measure_platform(base_url: str, api_key: str, model: str, clips: Sequence[Clip], concurrencies: Sequence[int]
                     ) -> list[dict[str, object]]:
    records = asyncio.run(_platform(base_url, api_key, model, clips, concurrencies))
    return [{**summarize_units("platform", label(c), level), "cpu_cores": cores}
            for c, (level, cores) in zip(concurrencies, records, strict=True)]


def measure_bare(entry: ModelEntry, models_dir: Path, clips: Sequence[Clip]) -> dict[str, object]:
    """The library transcribing every clip in turn: the reference for every platform level."""
    spec = {"kind": "transcription", "model_dir": str(models_dir / entry.source), "engine_args": entry.engine_args,
            "language": LANGUAGE, "files": [str(clip.path) for clip in clips]}
    with cpu.metered() as cores:  # the whole subprocess, model loading included
        seconds = bare.run(spec, entry.engine_env)
    return {**summarize_calls("bare", "sequential", seconds, sum(clip.seconds for clip in clips)), "cpu_cores": cores}
