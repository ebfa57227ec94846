"""What a chat request's choices say, read as they stream, in the replica: the reasoning apart from the answer
(vLLM's reasoning parser for the model, catalog ``reasoning_parser``), then tool calls out of the answer (see
tool_calls.py). One reader per request, with state per choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deployments import tool_calls
from deployments.llm_protocol import ChoiceDelta, GenerationRequest
from serve_app.errors import InvalidRequestError

if TYPE_CHECKING:
    from vllm.reasoning import ReasoningParser


@dataclass
class _Reasoning:
    """One choice's text split into reasoning and answer by vLLM's reasoning parser."""

    parser: ReasoningParser
    text: str = ""
    token_ids: list[int] = field(default_factory=list)

    def split(self, delta_text: str, delta_ids: Sequence[int]) -> tuple[str, str]:
        """``(reasoning, answer)`` of the new text."""
        previous_text, previous_ids = self.text, list(self.token_ids)
        self.text += delta_text
        self.token_ids.extend(delta_ids)
        message = self.parser.extract_reasoning_streaming(previous_text, self.text, delta_text, previous_ids,
                                                          self.token_ids, list(delta_ids))
        if message is None:
            return "", ""
        return message.reasoning or "", message.content or ""

    def count(self) -> int:
        """Reasoning tokens of the whole choice (counted once, when it ends: the count reads every token)."""
        return self.parser.count_reasoning_tokens(self.token_ids)


class OutputReader:
    """Per request: reasoning split off where the model reasons, tool calls read out where tools are on."""

    def __init__(self, request: GenerationRequest, model: str, tool_parser: str | None,
                 reasoning_parser: str | None, tokenizer: Any) -> None:
        self._tools = request.tools
        self._tool_parser = tool_parser
        self._reasoning_parser = reasoning_parser if request.messages is not None else None
        self._tokenizer = tokenizer
        self._extractors: dict[int, tool_calls.CallExtractor | None] = {}
        self._reasoning: dict[int, _Reasoning] = {}
        self._reasoning_counts: dict[int, int] = {}  # finished choices -> their reasoning tokens
        self._named = False
        self.schema: dict[str, Any] | None = None  # the JSON schema a forced tool call imposes on the output
        if self.tools_active:
            assert self._tools is not None
            try:  # the ingress checked the request already: this is the engine's own reading of it
                self._vllm_request = tool_calls.vllm_request(model, request.messages or [], self._tools)
                self.schema = tool_calls.forced_schema(self._vllm_request)
            except ValueError as exc:
                raise InvalidRequestError(f"Invalid tools: {exc}", param="tools", code="invalid_value") from None
            self._named = isinstance(self._tools.choice, dict)

    @property
    def tools_active(self) -> bool:
        return self._tools is not None and self._tools.choice != "none"

    @property
    def reads_special_tokens(self) -> bool:
        """Tool-call and reasoning markers are special tokens in many tokenizers: the parsers must see them."""
        return self.tools_active or self._reasoning_parser is not None

    @property
    def reasoning_tokens(self) -> int:
        """Reasoning tokens of the choices that have ended."""
        return sum(self._reasoning_counts.values())

    def delta(self, index: int, text: str, token_ids: Sequence[int], finish: str | None,
              logprobs: tuple[dict[str, Any], ...]) -> ChoiceDelta:
        reasoning = ""
        if self._reasoning_parser is not None:
            reasoning, text = self._split(index, text, token_ids)
            if finish is not None:
                self._reasoning_counts[index] = self._reasoning[index].count()
        extractor = self._extractor(index)
        if extractor is None:
            return ChoiceDelta(index, text, finish, logprobs=logprobs, reasoning=reasoning)
        content, deltas = extractor.feed(text, list(token_ids), finish is not None)
        if finish == "stop" and extractor.called and not self._named:  # OpenAI: a forced named call ends "stop"
            finish = "tool_calls"
        return ChoiceDelta(index, content, finish, tool_calls=tuple(deltas), logprobs=logprobs, reasoning=reasoning)

    def _split(self, index: int, text: str, token_ids: Sequence[int]) -> tuple[str, str]:
        if index not in self._reasoning:
            from vllm.reasoning import ReasoningParserManager

            assert self._reasoning_parser is not None
            parser = ReasoningParserManager.get_reasoning_parser(self._reasoning_parser)(self._tokenizer)
            self._reasoning[index] = _Reasoning(parser)
        return self._reasoning[index].split(text, token_ids)

    def _extractor(self, index: int) -> tool_calls.CallExtractor | None:
        if not self.tools_active:
            return None
        if index not in self._extractors:
            assert self._tools is not None
            self._extractors[index] = tool_calls.extractor(self._tools, self._tool_parser, self._tokenizer,
                                                           self._vllm_request)
        return self._extractors[index]
