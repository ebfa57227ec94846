"""The one generation step behind ``/v1/chat/completions`` and ``/v1/completions``: resolve the model, check the
request's limits and the key's quotas, admit it, guard it, generate, then stream or collect the answer.

An endpoint supplies only what differs (:class:`Endpoint`): how its body reads (prompt size, requested output,
what the guard inspects), the engine request it makes, and how its answer and stream chunks look.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.responses import JSONResponse, Response

from deployments.llm_protocol import GenerationChunk, GenerationRequest
from serve_app.catalog import Capability, ModelEntry
from serve_app.generation import Collected, collect
from serve_app.governance.admission import Governance
from serve_app.governance.limits import RequestLimits, generate, output_limit, possible_output
from serve_app.guardrails.gate import Conversation, GuardGate
from serve_app.keys import ApiKey
from serve_app.routing import ModelRouter
from serve_app.sse import Event, stream_response


@dataclass(frozen=True)
class Answer:
    """The ids every chunk and the answer of one request carry."""

    id: str
    created: int
    model: str


@dataclass(frozen=True)
class Plan:
    """What the shared step needs to know of a request before any engine sees it."""

    model: str
    operation: str  # as metered: "chat.completions" | "completions"
    capability: Capability
    id_prefix: str  # "chatcmpl-" | "cmpl-"
    stream: bool
    n: int
    choices: int  # n, times the prompts
    prompt_param: str  # "messages" | "prompt"
    prompt_characters: int
    guard: Sequence[Conversation]


class Endpoint(Protocol):
    def plan(self) -> Plan: ...

    def check(self, entry: ModelEntry) -> None:
        """Checks that depend on the model (images, token prompts, tools)."""

    async def prepare(self) -> None:
        """Costlier work once the request is admitted (remote images fetched); a refusal is metered."""

    def requested_output(self, cap: int | None) -> tuple[int | None, str]:
        """The output limit asked for (or None) and the parameter that asked, under the key's ``cap``."""

    def prompt_estimate(self, entry: ModelEntry) -> int:
        """The most the prompt can tokenize to (what admission reserves)."""

    def request(self, request_id: str, max_tokens: int | None) -> GenerationRequest: ...

    def answer(self, collected: Collected, ids: Answer) -> dict[str, Any]: ...

    def events(self, chunks: AsyncIterator[GenerationChunk], ids: Answer) -> AsyncIterator[Event]: ...


class GenerationStep:
    def __init__(self, router: ModelRouter, governance: Governance, limits: RequestLimits, gate: GuardGate,
                 background: bool = False) -> None:
        self._router = router
        self._governance = governance
        self._limits = limits
        self._gate = gate
        self._background = background  # batch lines: the engines serve interactive requests first

    async def run(self, endpoint: Endpoint, key: ApiKey, request_id: str) -> Response:
        plan = endpoint.plan()
        engine = self._router.llm(plan.model, plan.capability)
        entry = self._router.entry(plan.model)
        self._limits.check_n(plan.n)
        self._limits.check_prompt(plan.prompt_characters, plan.prompt_param)
        endpoint.check(entry)
        quotas = await self._governance.quotas(key)
        requested, param = endpoint.requested_output(quotas.max_tokens_per_request)
        limit = output_limit(requested, quotas.max_tokens_per_request, param, context_length=entry.context_length)
        ids = Answer(plan.id_prefix + uuid.uuid4().hex, int(time.time()), plan.model)
        ticket = await self._governance.admit(
            key, plan.model, plan.operation, request_id, entry.pricing,
            prompt_estimate=endpoint.prompt_estimate(entry),
            max_output_tokens=possible_output(limit, entry.context_length) * plan.choices,
            stream=plan.stream, quotas=quotas)
        with ticket.screening():
            await endpoint.prepare()
        await self._gate.apply(ticket, quotas.guard, plan.guard, model=plan.model, param=plan.prompt_param)
        request = endpoint.request(request_id, limit.max_tokens)  # after prepare(): with what it fetched
        if self._background:
            request = dataclasses.replace(request, background=True)
        chunks = ticket.meter_stream(generate(engine, request, limit))
        if plan.stream:
            response: Response = await stream_response(endpoint.events(chunks, ids), request_id)
        else:
            collected = await self._limits.within_timeout(collect(chunks, plan.choices))
            response = JSONResponse(endpoint.answer(collected, ids))
        return ticket.annotate(self._router.annotate(response, plan.model))
