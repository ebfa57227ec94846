"""Prometheus metrics, recorded in the ingress with ``ray.serve.metrics`` (served cluster-wide at ``/metrics`` by
``serve_app.cluster_metrics``).

:class:`MetricsMiddleware` counts every HTTP answer by route template, model and status (and errors by OpenAI
error type and code, read from the error body); :func:`instrument` wraps each model's engine so that tokens,
audio seconds, time to first token, time per output token and requests in flight are recorded where they
happen. The services need no call of their own. Labels are route templates, catalog model ids, status codes and
the platform's error codes: never a key, a key id or user text.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.embedding_protocol import EmbeddingRequest, EmbeddingResult, RerankRequest, RerankResult
from deployments.llm_protocol import GenerationChunk, GenerationRequest
from deployments.transcription_protocol import TranscriptionRequest, TranscriptionResult
from serve_app.errors import APIError, unwrap
from serve_app.routing import HealthChecked

Encoded = TypeVar("Encoded", EmbeddingResult, RerankResult)
TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 20, 40, 80]
TPOT_BUCKETS = [0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5]
ERROR_BODY_LIMIT = 16 * 1024
CLIENT_GONE = 499  # the client left before an answer started (nginx's convention)
SERVER_ERROR = b'{"error": {"type": "server_error", "code": null}}'


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # counter, histogram or gauge
    description: str
    tags: tuple[str, ...]
    buckets: tuple[float, ...] = ()


FAMILIES = (
    Family("llmaas_requests", "counter", "HTTP requests answered, by route, model and status.",
           ("endpoint", "model", "status")),
    Family("llmaas_request_errors", "counter", "Errors by route, model, status, OpenAI error type and code; "
           "an error inside a started stream counts with the status of its error object.",
           ("endpoint", "model", "status", "type", "code")),
    Family("llmaas_input_tokens", "counter", "Prompt tokens, as the engines count them.", ("model",)),
    Family("llmaas_output_tokens", "counter", "Generated tokens, as the engines count them.", ("model",)),
    Family("llmaas_audio_seconds", "counter", "Seconds of audio transcribed or translated.", ("model",)),
    Family("llmaas_time_to_first_token_seconds", "histogram",
           "From a request's arrival at the ingress to its first generated text.", ("model",), tuple(TTFT_BUCKETS)),
    Family("llmaas_time_per_output_token_seconds", "histogram",
           "Mean time between generated tokens, one observation per request.", ("model",), tuple(TPOT_BUCKETS)),
    Family("llmaas_requests_in_flight", "gauge", "Requests the ingress replicas are serving, per model.",
           ("model",)),
    Family("llmaas_guardrail_verdicts", "counter", "Prompt-guard verdicts on chat and completion requests, by model, "
           "action (passed, flagged, blocked) and category (one count per category found; none when passed).",
           ("model", "action", "category")),
)


# Recorded by the status prober (serve_app/status/probe_metrics.py), exported by /metrics with the others.
STATUS_FAMILIES = (
    Family("llmaas_probes", "counter", "Status probes that count toward availability (none during maintenance or "
           "before a model first answered), by model and result (ok, failed).", ("model", "result")),
    Family("llmaas_model_state", "gauge", "Each model's state on the status page: 1 for its current state, 0 for the "
           "others; a model that has never answered yet is unknown.", ("model", "state")),
)


def ray_instrument(family: Family) -> Any:
    """The ``ray.serve.metrics`` object for a family (created in the ingress replica, never at import)."""
    from ray.serve import metrics

    tags: Any = family.tags  # Ray annotates tag_keys as a 1-tuple
    if family.kind == "counter":
        return metrics.Counter(family.name, description=family.description, tag_keys=tags)
    if family.kind == "histogram":
        return metrics.Histogram(family.name, description=family.description, boundaries=list(family.buckets),
                                 tag_keys=tags)
    return metrics.Gauge(family.name, description=family.description, tag_keys=tags)


@dataclass
class _Call:
    """What one HTTP request has done, filled in as it goes (model, an error inside its stream)."""

    started: float
    model: str = ""
    stream_error: tuple[int, str, str] | None = None


class Metrics:
    """The recorder of one ingress replica; ``instrument`` makes the metric objects (Ray's, or in unit tests
    stand-ins with the same ``inc``/``observe``/``set`` methods)."""

    def __init__(self, instrument: Callable[[Family], Any] = ray_instrument) -> None:
        self._instruments = {family.name: instrument(family) for family in FAMILIES}
        self._in_flight: dict[str, int] = {}
        self._call: ContextVar[_Call | None] = ContextVar("llmaas_call", default=None)

    def _get(self, name: str) -> Any:
        return self._instruments[name]

    def answered(self, call: _Call, endpoint: str, status: int, error_body: bytes) -> None:
        tags = {"endpoint": endpoint, "model": call.model, "status": str(status)}
        self._get("llmaas_requests").inc(1, tags=tags)
        error = _error_of_body(status, error_body) if status >= 400 else call.stream_error
        if error is not None:
            error_status, error_type, code = error
            self._get("llmaas_request_errors").inc(1, tags={**tags, "status": str(error_status), "type": error_type,
                                                            "code": code})

    async def generation(self, model: str, request: GenerationRequest,
                         chunks: AsyncIterator[GenerationChunk]) -> AsyncIterator[GenerationChunk]:
        choices = request.sampling.n * (len(request.prompts) if request.prompts else 1)
        call = self._enter(model)
        call.stream_error = None  # a request sent again (a capped max_tokens, limits.py) counts by its last try
        first = last = 0.0
        prompt_tokens = completion_tokens = 0
        try:
            async for chunk in chunks:
                last = time.perf_counter()
                if not first and any(delta.text for delta in chunk.choices):
                    first = last
                    self._get("llmaas_time_to_first_token_seconds").observe(first - call.started, tags={"model": model})
                prompt_tokens, completion_tokens = chunk.prompt_tokens, chunk.completion_tokens
                yield chunk
        except Exception as exc:
            call.stream_error = _error_of(exc)
            raise
        finally:
            self._leave(model)
            self._tokens(model, prompt_tokens, completion_tokens)
            steps = completion_tokens / choices
            if first and steps > 1 and last > first:
                self._get("llmaas_time_per_output_token_seconds").observe((last - first) / (steps - 1),
                                                                           tags={"model": model})

    async def embedding(self, model: str, result: Awaitable[Encoded]) -> Encoded:
        """An embeddings or rerank call: in flight while it runs, its input tokens counted when it answers."""
        self._enter(model)
        try:
            answer = await result
        finally:
            self._leave(model)
        self._tokens(model, answer.prompt_tokens, 0)
        return answer

    async def transcription(self, model: str, result: Awaitable[TranscriptionResult]) -> TranscriptionResult:
        self._enter(model)
        try:
            answer = await result
        finally:
            self._leave(model)
        self._get("llmaas_audio_seconds").inc(answer.duration, tags={"model": model})
        return answer

    def guard_verdict(self, model: str, action: str, categories: tuple[str, ...]) -> None:
        for category in categories or ("none",):
            self._get("llmaas_guardrail_verdicts").inc(1, tags={"model": model, "action": action, "category": category})

    def begin(self) -> tuple[_Call, Any]:
        call = _Call(started=time.perf_counter())
        return call, self._call.set(call)

    def end(self, token: Any) -> None:
        self._call.reset(token)

    def _enter(self, model: str) -> _Call:
        call = self._call.get() or _Call(started=time.perf_counter())
        call.model = model
        count = self._in_flight[model] = self._in_flight.get(model, 0) + 1
        self._get("llmaas_requests_in_flight").set(count, tags={"model": model})
        return call

    def _leave(self, model: str) -> None:
        count = self._in_flight[model] = self._in_flight[model] - 1
        self._get("llmaas_requests_in_flight").set(count, tags={"model": model})

    def _tokens(self, model: str, prompt: int, completion: int) -> None:
        if prompt:
            self._get("llmaas_input_tokens").inc(prompt, tags={"model": model})
        if completion:
            self._get("llmaas_output_tokens").inc(completion, tags={"model": model})


def _error_of(exc: BaseException) -> tuple[int, str, str]:
    exc = unwrap(exc)
    if isinstance(exc, APIError):
        return exc.status_code, exc.error_type, exc.code or ""
    return 500, "server_error", ""


def _error_of_body(status: int, body: bytes) -> tuple[int, str, str]:
    try:
        error = json.loads(body)["error"]
        return status, str(error.get("type") or ""), str(error.get("code") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return status, "", ""


class MetricsMiddleware:
    """Counts every answer by route template (never the raw path), model and status.

    It runs inside Starlette (``Starlette(middleware=[Middleware(MetricsMiddleware, metrics=...)])``), so the
    router has put the matched route in the scope by the time the answer is counted.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call, token = self.metrics.begin()
        status = 0
        error_body = bytearray()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status >= 400 and len(error_body) < ERROR_BODY_LIMIT:
                error_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except asyncio.CancelledError:
            status = status or CLIENT_GONE
            raise
        except Exception:  # answered as a 500 by Starlette's outer error middleware
            status, error_body[:] = status or 500, SERVER_ERROR
            raise
        finally:
            self.metrics.end(token)
            route = scope.get("route")
            endpoint = route.path if isinstance(route, Route) else "unmatched"
            self.metrics.answered(call, endpoint, status or CLIENT_GONE, bytes(error_body))


class InstrumentedEngine:
    """A model's engine (Serve handle or stand-in) that records what passes through it."""

    def __init__(self, model: str, engine: Any, metrics: Metrics) -> None:
        self._model = model
        self._engine = engine
        self._metrics = metrics

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        return self._metrics.generation(self._model, request, self._engine.generate(request))

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        return await self._metrics.embedding(self._model, self._engine.embed(request))

    async def rerank(self, request: RerankRequest) -> RerankResult:
        return await self._metrics.embedding(self._model, self._engine.rerank(request))

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        return await self._metrics.transcription(self._model, self._engine.transcribe(request))

    async def check_health(self) -> None:
        await self._engine.check_health()


def instrument(engines: Mapping[str, HealthChecked], metrics: Metrics) -> dict[str, HealthChecked]:
    return {model: InstrumentedEngine(model, engine, metrics) for model, engine in engines.items()}
