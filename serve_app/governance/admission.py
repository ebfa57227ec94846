"""Admission in the ingress: which models a key may call and whether its limits leave room, before any
engine is called; then the ticket that meters what the request consumed."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from starlette.responses import Response

from deployments.llm_protocol import GenerationChunk
from serve_app.catalog.schema import Pricing
from serve_app.errors import APIError, PermissionDeniedError, QuotaExceededError, RateLimitError
from serve_app.governance.holdings import Holdings
from serve_app.governance.meter import Meter
from serve_app.governance.quotas import Measure, Quotas, TierConfig, Window
from serve_app.governance.records import AdmissionRequest, AdmissionResult, LimitStatus, Outcome, UsageRecord, cost
from serve_app.governance.reporter import UsageReporter
from serve_app.keys import ApiKey

TOKEN_MEASURES = (Measure.TOKENS, Measure.OUTPUT_TOKENS)
ADDED_TOKENS = 8  # special tokens a tokenizer adds around one text (BOS/EOS, [CLS]/[SEP]), or a chat message's markers
CHAT_TEMPLATE_TOKENS = 64  # what a chat template adds once: a generation prompt, a default system prompt
LIMIT_WORDS = {
    "requests_per_minute": "requests per minute (RPM)",
    "tokens_per_minute": "tokens per minute (TPM)",
    "tokens_per_day": "tokens per day (TPD)",
    "output_tokens_per_hour": "output tokens per hour",
    "output_tokens_per_day": "output tokens per day",
    "monthly_spend_cap_usd": "monthly spending cap (USD)",
    "audio_minutes_per_month": "audio minutes per month",
}


@dataclass(frozen=True)
class Usage:
    """What one request consumed, as the engine counted it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0


@dataclass
class Ticket:
    """An admitted request: its rate-limit headers, and the one usage record it will produce."""

    key: ApiKey
    model: str
    endpoint: str
    request_id: str
    pricing: Pricing
    reporter: UsageReporter | None
    headers: dict[str, str] = field(default_factory=dict)
    holds_stream: bool = False  # an open-streams reservation at the meter, freed when the record arrives
    # The record is sent at once, not with the next batch: it frees an open stream, or a reservation the metering
    # actor holds for a key near a limit (no lease), which would otherwise refuse the key's next request.
    urgent: bool = False
    finished: bool = False

    def finish(self, usage: Usage, outcome: Outcome = "completed") -> None:
        """Meters the request once (later calls do nothing); internal identities are never billed."""
        if self.finished:
            return
        self.finished = True
        if self.reporter is None:
            return
        self.reporter.record(UsageRecord(
            request_id=self.request_id, key_id=self.key.id, model=self.model, endpoint=self.endpoint,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            audio_seconds=usage.audio_seconds,
            cost_usd=cost(self.pricing, usage.prompt_tokens, usage.completion_tokens, usage.audio_seconds),
            outcome=outcome, ended_at=time.time(), organisation_id=self.key.organisation_id), urgent=self.urgent)

    def screening(self) -> AbstractContextManager[None]:
        """Around checks of the admitted request before any engine is called (the prompt guard): a refusal
        (an :class:`APIError`) is metered as ``refused`` with nothing consumed, so it counts as a request of the
        key; any other failure or a cancellation as in :meth:`failures`."""
        return self._metering_failures(refusal="refused")

    def failures(self) -> AbstractContextManager[None]:
        """Around work that reports its usage with :meth:`finish` when it succeeds: if it fails or is
        cancelled first, the request is metered as having consumed nothing."""
        return self._metering_failures(refusal="error")

    @contextmanager
    def _metering_failures(self, refusal: Outcome) -> Iterator[None]:
        try:
            yield
        except APIError:
            self.finish(Usage(), refusal)
            raise
        except Exception:
            self.finish(Usage(), "error")
            raise
        except BaseException:
            self.finish(Usage(), "cancelled")
            raise

    def annotate(self, response: Response) -> Response:
        response.headers.update(self.headers)
        return response

    async def meter_stream(self, chunks: AsyncIterator[GenerationChunk]) -> AsyncIterator[GenerationChunk]:
        """Passes the engine's chunks through and meters what was generated, however the stream ends:
        finished, cut off by the client (cancelled), or failed. The engine's own counts are the source."""
        last: GenerationChunk | None = None
        outcome: Outcome = "cancelled"
        try:
            async for chunk in chunks:
                last = chunk
                yield chunk
            outcome = "completed"
        except Exception:
            outcome = "error"
            raise
        finally:
            self.finish(Usage(last.prompt_tokens, last.completion_tokens) if last else Usage(), outcome)


class Governance:
    """Per ingress replica: checks keys against their tier and overrides, through the shared meter."""

    def __init__(self, tiers: TierConfig, meter: Meter, reporter: UsageReporter,
                 holdings: Holdings | None = None, organisations: Contracts | None = None) -> None:
        self._tiers = tiers
        self._meter = meter
        self._reporter = reporter
        self._holdings = holdings  # the admitted requests whose reservations this replica keeps alive
        self._organisations = organisations

    async def allows(self, key: ApiKey, model: str) -> bool:
        """Whether the key may call the model (the models it may not are also hidden from /v1/models)."""
        return key.internal or (await self.quotas(key)).allows_model(model)

    async def contract(self, key: ApiKey) -> Quotas | None:
        """The organisation-wide limits of the key's organisation, if it has any."""
        if self._organisations is None or key.internal:
            return None
        return await self._organisations.contract(key.organisation_id)

    async def quotas(self, key: ApiKey) -> Quotas:
        """The key's effective limits and guard mode: its tier's, with its own overrides on top, within its
        organisation's contract (the models it allows, its per-request bound)."""
        return self._within(key, await self.contract(key))

    def _within(self, key: ApiKey, contract: Quotas | None) -> Quotas:
        own = self._tiers.effective_quotas(key.tier, key.quotas)
        return own if contract is None else within_contract(own, contract)

    async def admit(self, key: ApiKey, model: str, endpoint: str, request_id: str, pricing: Pricing, *,
                    prompt_estimate: int = 0, max_output_tokens: int = 0, audio_seconds: float = 0.0,
                    stream: bool = False, quotas: Quotas | None = None) -> Ticket:
        """Lets the request in, or raises 403 (model not allowed) / 429 (a limit is reached, or the key has
        as many streams open as it may when ``stream``). ``audio_seconds``: the duration of the request's audio
        (read from its container), reserved in whole seconds as it is billed. ``quotas``: the key's, when the
        caller has them."""
        if key.internal:
            return Ticket(key, model, endpoint, request_id, pricing, reporter=None)
        contract = await self.contract(key)
        quotas = self._within(key, contract) if quotas is None else quotas
        if not quotas.allows_model(model):
            raise PermissionDeniedError(
                f"This API key is not allowed to use the model `{model}`. Ask the operator to add it to the "
                "key's allowed models.", param="model", code="model_not_allowed")
        audio = float(math.ceil(audio_seconds))
        reservation = {
            Measure.TOKENS: float(prompt_estimate + max_output_tokens),
            Measure.OUTPUT_TOKENS: float(max_output_tokens),
            Measure.COST: cost(pricing, prompt_estimate, max_output_tokens, audio),
        }
        if audio:
            reservation[Measure.AUDIO_SECONDS] = audio
        limits = quotas.limits()
        stream_limits = [quotas.stream_limit() if stream else None]
        if contract is not None:
            limits += contract.limits("organisation")
            stream_limits.append(contract.stream_limit("organisation") if stream else None)
        held_streams = [limit for limit in stream_limits if limit is not None]
        if held_streams:
            # The open stream is held as a reservation until its usage record reaches the meter.
            limits = [*held_streams, *limits]
            reservation[Measure.STREAMS] = 1.0
        result = await self._meter.admit(AdmissionRequest(key.id, request_id, tuple(limits), reservation,
                                                          organisation_id=key.organisation_id))
        headers = rate_limit_headers(result)
        if not result.admitted:
            assert result.refused_by is not None
            raise refusal(result.refused_by, result.now, headers)
        if self._holdings is not None:
            self._holdings.hold(request_id)
        holds_stream = bool(held_streams)
        near_a_limit = result.held_at_meter and result.lease is None
        return Ticket(key, model, endpoint, request_id, pricing, self._reporter, headers,
                      holds_stream=holds_stream, urgent=holds_stream or near_a_limit)


class Contracts(Protocol):
    async def contract(self, organisation_id: str) -> Quotas | None: ...


def within_contract(own: Quotas, contract: Quotas) -> Quotas:
    """A key's limits within its organisation's contract: only models both allow, and the lower per-request
    bound. (The contract's windowed limits count the whole organisation's use, in admission.)"""
    changes: dict[str, object] = {}
    if contract.allowed_models is not None:
        changes["allowed_models"] = (contract.allowed_models if own.allowed_models is None
                                     else own.allowed_models & contract.allowed_models)
    if contract.max_tokens_per_request is not None:
        changes["max_tokens_per_request"] = min(own.max_tokens_per_request or contract.max_tokens_per_request,
                                                contract.max_tokens_per_request)
    return own.model_copy(update=changes) if changes else own


def prompt_bound(characters: int, context_length: int, added_tokens: int = ADDED_TOKENS) -> int:
    """The most tokens a text of ``characters`` can be once tokenized, which admission reserves before the engine
    counts: a token is at least one UTF-8 byte and a character at most four, plus what the tokenizer or a chat
    template adds around it (``added_tokens``: special tokens, role markers, a default system prompt); never more
    than the model's context, as the engine refuses a longer prompt. An upper bound, so that concurrent requests
    admitted on their reservations cannot together cross a limit by more than one request."""
    return min(4 * characters + added_tokens, context_length)


def chat_added_tokens(messages: int) -> int:
    """At most what a chat template adds to a conversation of ``messages``."""
    return CHAT_TEMPLATE_TOKENS + ADDED_TOKENS * messages


def rate_limit_headers(result: AdmissionResult) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers: the per-minute request limit, and the tightest token limit."""
    headers: dict[str, str] = {}
    requests = next((s for s in result.statuses if s.limit.measure is Measure.REQUESTS), None)
    if requests is not None:
        headers.update(_headers("requests", requests, result.now))
    tokens = [s for s in result.statuses if s.limit.measure in TOKEN_MEASURES]
    if tokens:
        tightest = min(tokens, key=lambda s: (s.remaining, s.resets_at))
        headers.update(_headers("tokens", tightest, result.now))
    return headers


def _headers(kind: str, status: LimitStatus, now: float) -> dict[str, str]:
    return {f"x-ratelimit-limit-{kind}": _number(status.limit.maximum),
            f"x-ratelimit-remaining-{kind}": _number(status.remaining),
            f"x-ratelimit-reset-{kind}": duration(status.resets_at - now)}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def duration(seconds: float) -> str:
    """A wait as OpenAI writes it in ``x-ratelimit-reset-*``: ``1s``, ``6m0s``, ``2h3m4s``, ``0.5s``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{math.ceil(seconds)}s"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{secs}s"


def refusal(status: LimitStatus, now: float, headers: dict[str, str]) -> RateLimitError | QuotaExceededError:
    limit = status.limit
    whose = "your organisation" if limit.scope == "organisation" else "this API key"
    if limit.measure is Measure.STREAMS:
        return RateLimitError(
            f"Too many concurrent streams on {whose}: at most {_number(limit.maximum)} streamed requests may "
            "be open at once. Retry when one of them has finished, or send this request without `stream`.",
            code="too_many_concurrent_streams", headers={**headers, "retry-after": "1"})
    words = LIMIT_WORDS.get(limit.name, limit.name)
    shown_limit, shown_used = limit.maximum, status.used
    if limit.measure is Measure.AUDIO_SECONDS:
        shown_limit, shown_used = shown_limit / 60, shown_used / 60
    wait = duration(status.resets_at - now)
    if limit.window is Window.MONTH:
        return QuotaExceededError(
            f"You exceeded your current quota: the {words} of {whose} is reached (limit {_number(shown_limit)}, "
            f"used {_number(round(shown_used, 6))}). It resets in {wait}; ask the platform's operator to raise it.",
            code="insufficient_quota", headers=headers)
    return RateLimitError(
        f"Rate limit reached for {words} on {whose}: limit {_number(shown_limit)}, used "
        f"{_number(round(shown_used, 6))}. Please try again in {wait}.",
        code="rate_limit_exceeded", headers={**headers, "retry-after": str(max(1, math.ceil(status.resets_at - now)))})
