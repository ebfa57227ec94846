"""The prompt guard in the request path: inspects what a request asks before any engine sees it, and applies
the key's guard mode (``block``, ``flag`` or ``off``, from its tier or its own overrides).

A blocked request gets a 400 that says nothing of what tripped the guard (an attacker learns nothing to
rephrase around); a flagged one is served with the ``x-llmaas-guardrail: flagged`` header. Every verdict
is counted by model, action and category. The request id, the action, the score and the categories go to
the log; the text never does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from serve_app.errors import InvalidRequestError
from serve_app.governance.quotas import GuardMode
from serve_app.guardrails.detector import GuardVerdict, PromptGuard

if TYPE_CHECKING:
    from serve_app.governance.admission import Ticket

logger = logging.getLogger("serve_app")
GUARD_HEADER = "x-llmaas-guardrail"
THREAD_CHARS = 4000  # requests with more text are inspected in a worker thread, off the event loop
Conversation = Sequence[tuple[str, str]]


class VerdictRecorder(Protocol):
    def guard_verdict(self, model: str, action: str, categories: tuple[str, ...]) -> None: ...


def prompt_injection_detected(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        "This request was refused by the platform's prompt-injection guard. Rephrase it; if you believe it is "
        "legitimate, contact the platform's operator with its request id (the x-request-id header).",
        param=param, code="prompt_injection_detected")


class GuardGate:
    """One per ingress replica, around the replica's one (immutable, thread-safe) :class:`PromptGuard`."""

    def __init__(self, guard: PromptGuard, recorder: VerdictRecorder) -> None:
        self._guard = guard
        self._recorder = recorder

    async def apply(self, ticket: Ticket, mode: GuardMode, conversations: Sequence[Conversation], *, model: str,
                    param: str) -> None:
        """Screens an admitted request: a block is metered on its ticket as ``refused`` (and raised), a flag
        puts :data:`GUARD_HEADER` on its answer."""
        with ticket.screening():
            if await self.screen(mode, conversations, model=model, param=param, request_id=ticket.request_id):
                ticket.headers[GUARD_HEADER] = "flagged"

    async def screen(self, mode: GuardMode, conversations: Sequence[Conversation], *, model: str, param: str,
                     request_id: str) -> bool:
        """Whether the request is flagged (to be served with :data:`GUARD_HEADER`); raises a 400 with code
        ``prompt_injection_detected`` (naming ``param``) when it is blocked. ``conversations`` are inspected
        each on its own (the prompts of a legacy completion are independent)."""
        if mode is GuardMode.OFF or not conversations:
            return False
        size = sum(len(text) for conversation in conversations for _, text in conversation)
        if size > THREAD_CHARS:
            verdict = await asyncio.to_thread(self._inspect, conversations)
        else:
            verdict = self._inspect(conversations)
        if not verdict.detected:
            self._recorder.guard_verdict(model, "passed", ())
            return False
        action = "blocked" if mode is GuardMode.BLOCK else "flagged"
        self._recorder.guard_verdict(model, action, verdict.categories or ("unclassified",))
        logger.info("request %s %s by the prompt guard (score %.2f, categories %s)", request_id, action,
                    verdict.score, ",".join(verdict.categories))
        if mode is GuardMode.BLOCK:
            raise prompt_injection_detected(param)
        return True

    def _inspect(self, conversations: Sequence[Conversation]) -> GuardVerdict:
        verdicts = [self._guard.inspect(conversation) for conversation in conversations]
        found = [verdict for verdict in verdicts if verdict.detected]
        categories = tuple(sorted({category for verdict in found for category in verdict.categories}))
        return GuardVerdict(detected=bool(found), categories=categories,
                            score=max((verdict.score for verdict in verdicts), default=0.0))
