"""The prober's synthetic requests: sent over HTTP to the platform's own URL, so they take the path a
user's request takes (proxy, ingress, authentication, routing, the model's replicas).

Their inputs are fixed (a counting prompt, a few fixed sentences, a clip of silence), so no user data is
ever involved. Each probe measures the time to first byte (for a stream: to the first token) and a
throughput: tokens/s for generative models, inputs/s for embeddings, audio seconds per second for
transcription.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import wave
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from serve_app.catalog import Capability, ModelEntry

CHAT_PROMPT = "Count from one to twenty, separated by commas."
MAX_TOKENS = 24
RERANK_QUERY = "Which sentence is number seven?"
EMBEDDING_INPUTS = tuple(f"Status probe sentence number {index}." for index in range(16))
CLIP_SECONDS = 1.5
CLIP_RATE = 8_000  # small on the wire; the engine resamples


class ProbeKind(StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    RERANK = "rerank"
    TRANSCRIPTION = "transcription"

    @property
    def unit(self) -> str:
        return {ProbeKind.EMBEDDINGS: "inputs/s", ProbeKind.RERANK: "documents/s",
                ProbeKind.TRANSCRIPTION: "audio s/s"}.get(self, "tokens/s")

    @property
    def generative(self) -> bool:
        return self in (ProbeKind.CHAT, ProbeKind.COMPLETIONS)


@dataclass(frozen=True)
class ProbeTarget:
    model: str
    kind: ProbeKind

    @classmethod
    def for_entry(cls, entry: ModelEntry) -> ProbeTarget:
        """Chat for chat models (vision models included, with text), else what the model offers."""
        for capability, kind in ((Capability.CHAT, ProbeKind.CHAT), (Capability.COMPLETIONS, ProbeKind.COMPLETIONS),
                                 (Capability.EMBEDDINGS, ProbeKind.EMBEDDINGS), (Capability.RERANK, ProbeKind.RERANK),
                                 (Capability.TRANSCRIPTION, ProbeKind.TRANSCRIPTION)):
            if entry.supports(capability):
                return cls(entry.id, kind)
        raise ValueError(f"no probe for the capabilities of {entry.id}")


@dataclass(frozen=True)
class ProbeResult:
    model: str
    at: float
    ok: bool
    ttfb_ms: float | None = None
    throughput: float | None = None
    error: str | None = None

    @property
    def refused_prober(self) -> bool:
        """The platform refused the prober's identity: that says nothing about the model."""
        return self.error is not None and self.error.startswith(("http_401", "http_403"))


class ProbeFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:64]


class Probes:
    """Sends probes with one HTTP client (its base URL is the platform's); the audio clip is made once."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._clip = silent_clip()

    async def run(self, target: ProbeTarget, key: str, timeout: float) -> ProbeResult:
        """One probe of one model; any failure is a result (``ok`` false, ``error`` a short reason)."""
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "llmaas-status-prober"}
        at = time.time()
        try:
            ttfb, throughput = await asyncio.wait_for(self._measure(target, headers), timeout)
        except TimeoutError:
            return ProbeResult(target.model, at, False, error="timeout")
        except ProbeFailed as exc:
            return ProbeResult(target.model, at, False, error=exc.reason)
        except httpx.HTTPError as exc:
            return ProbeResult(target.model, at, False, error=type(exc).__name__)
        except (ValueError, KeyError, TypeError):  # an answer that is not the API's shape
            return ProbeResult(target.model, at, False, error="bad_response")
        return ProbeResult(target.model, at, True, ttfb_ms=round(ttfb * 1000, 1),
                           throughput=None if throughput is None else round(throughput, 2))

    async def _measure(self, target: ProbeTarget, headers: dict[str, str]) -> tuple[float, float | None]:
        if target.kind is ProbeKind.EMBEDDINGS:
            return await _embeddings(self._client, target.model, headers)
        if target.kind is ProbeKind.RERANK:
            return await _rerank(self._client, target.model, headers)
        if target.kind is ProbeKind.TRANSCRIPTION:
            return await _transcription(self._client, target.model, headers, self._clip)
        return await _generate(self._client, target.model, headers, chat=target.kind is ProbeKind.CHAT)


async def _generate(client: httpx.AsyncClient, model: str, headers: dict[str, str], *,
                    chat: bool) -> tuple[float, float | None]:
    body: dict[str, Any] = {"model": model, "stream": True, "stream_options": {"include_usage": True},
                            "max_tokens": MAX_TOKENS, "temperature": 0}
    if chat:
        body["messages"] = [{"role": "user", "content": CHAT_PROMPT}]
    else:
        body["prompt"] = CHAT_PROMPT + "\n1,"
    started = time.monotonic()
    first = last = None
    tokens = 0
    path = "/v1/chat/completions" if chat else "/v1/completions"
    async with client.stream("POST", path, json=body, headers=headers) as response:
        await _check(response)
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line.removeprefix("data: "))
            if "error" in event:
                raise ProbeFailed("stream_" + str(event["error"].get("code") or event["error"].get("type")))
            if event.get("usage"):
                tokens = int(event["usage"]["completion_tokens"])
            if any(_produced(choice) for choice in event.get("choices") or []):
                last = time.monotonic()
                first = first or last
    if first is None or last is None:
        raise ProbeFailed("no_output")
    speed = (tokens - 1) / (last - first) if tokens > 1 and last > first else None
    return first - started, speed


def _produced(choice: dict[str, Any]) -> bool:
    text = choice.get("text") or (choice.get("delta") or {}).get("content")
    return bool(text) or bool(choice.get("finish_reason"))


async def _embeddings(client: httpx.AsyncClient, model: str, headers: dict[str, str]) -> tuple[float, float | None]:
    return await _per_input(client, "/v1/embeddings", {"model": model, "input": list(EMBEDDING_INPUTS)}, "data",
                            headers)


async def _rerank(client: httpx.AsyncClient, model: str, headers: dict[str, str]) -> tuple[float, float | None]:
    body = {"model": model, "query": RERANK_QUERY, "documents": list(EMBEDDING_INPUTS)}
    return await _per_input(client, "/v1/rerank", body, "results", headers)


async def _per_input(client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str,
                     headers: dict[str, str]) -> tuple[float, float | None]:
    """The time to the answer's first byte, and inputs per second; the answer's ``field`` has one item an input."""
    started = time.monotonic()
    async with client.stream("POST", path, json=body, headers=headers) as response:
        ttfb = time.monotonic() - started
        await _check(response)
        items = json.loads(await response.aread()).get(field) or []
    elapsed = time.monotonic() - started
    if len(items) != len(EMBEDDING_INPUTS):
        raise ProbeFailed("wrong_answer")
    return ttfb, len(EMBEDDING_INPUTS) / elapsed


async def _transcription(client: httpx.AsyncClient, model: str, headers: dict[str, str],
                         clip: bytes) -> tuple[float, float | None]:
    started = time.monotonic()
    files = {"file": ("probe.wav", clip, "audio/wav")}
    async with client.stream("POST", "/v1/audio/transcriptions", data={"model": model, "response_format": "json"},
                             files=files, headers=headers) as response:
        ttfb = time.monotonic() - started
        await _check(response)
        answer = json.loads(await response.aread())
    elapsed = time.monotonic() - started
    if "text" not in answer:
        raise ProbeFailed("wrong_answer")
    return ttfb, CLIP_SECONDS / elapsed


async def _check(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    code = None
    with contextlib.suppress(ValueError, KeyError, TypeError):
        code = json.loads(await response.aread())["error"]["code"]
    raise ProbeFailed(f"http_{response.status_code}" + (f"_{code}" if isinstance(code, str) else ""))


def silent_clip() -> bytes:
    """A fixed clip of silence, as a small mono WAV made in memory. Whisper decodes it in one pass; a tone sent
    it through every fallback temperature (whisper-base on 2 cores: 5.5 s against 1.4 s)."""
    frames = int(CLIP_SECONDS * CLIP_RATE)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(CLIP_RATE)
        clip.writeframes(bytes(2 * frames))
    return buffer.getvalue()
