"""Tool calls read out of a model's text as it streams, in the replica, as OpenAI streams them.

Per choice, an extractor takes each new piece of text and returns what to send on: plain content and tool-call
deltas (``{"index", "id", "type", "function": {"name", "arguments"}}`` first, then argument fragments). A whole
answer is the same deltas put together (the ingress does it).

- ``tool_choice: "auto"``: vLLM's own tool parser for the model (catalog ``tool_parser``) reads the model's
  native syntax (``<tool_call>`` for hermes, ``[TOOL_CALLS]`` for mistral, ...).
- ``"required"`` and a named function: the output is constrained by structured outputs to JSON that can only be a
  call (vLLM's ``get_json_schema_from_tools``: a named function's arguments; for ``required``, a list of
  ``{"name", "parameters"}``), so even a small model returns a valid call. A named call streams its arguments as
  they come; ``required`` calls are sent once the list is complete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from deployments.llm_protocol import ToolCalling

if TYPE_CHECKING:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.tokenizers import TokenizerLike
    from vllm.tool_parsers import ToolParser


def call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


class CallExtractor(Protocol):
    """One choice's text in, what to send out: ``(content, tool-call deltas)``."""

    def feed(self, delta_text: str, delta_token_ids: Sequence[int], finished: bool) -> tuple[str, list[dict[str, Any]]]:
        ...

    @property
    def called(self) -> bool: ...


def vllm_request(model: str, messages: list[dict[str, Any]], tools: ToolCalling) -> ChatCompletionRequest:
    """The request as vLLM's parsers take it (they read ``tools`` and ``tool_choice`` from it)."""
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    return ChatCompletionRequest.model_validate({
        "model": model, "messages": messages, "tools": tools.tools, "tool_choice": tools.choice,
        "parallel_tool_calls": tools.parallel})


def forced_schema(request: ChatCompletionRequest) -> dict[str, Any] | None:
    """The JSON schema that makes the output a call (``required`` or a named function), None for ``auto``/``none``."""
    from vllm.tool_parsers.utils import get_json_schema_from_tools

    schema = get_json_schema_from_tools(cast(Any, request.tool_choice), cast(Any, request.tools),
                                        request.parallel_tool_calls)
    return json.loads(schema) if isinstance(schema, str) else schema


class ParsedCalls:
    """``auto``: vLLM's tool parser reads the model's native tool-call syntax as the text grows."""

    def __init__(self, parser: ToolParser, request: ChatCompletionRequest) -> None:
        self._parser = parser
        self._request = request
        self._text = ""
        self._token_ids: list[int] = []
        self._called = False

    @classmethod
    def create(cls, parser_name: str, tokenizer: TokenizerLike, request: ChatCompletionRequest) -> ParsedCalls:
        from vllm.tool_parsers import ToolParserManager

        return cls(ToolParserManager.get_tool_parser(parser_name)(tokenizer, cast(Any, request.tools)), request)

    @property
    def called(self) -> bool:
        return self._called

    def feed(self, delta_text: str, delta_token_ids: Sequence[int], finished: bool) -> tuple[str, list[dict[str, Any]]]:
        previous_text, previous_ids = self._text, list(self._token_ids)
        self._text += delta_text
        self._token_ids.extend(delta_token_ids)
        content, calls = "", []
        if delta_text or delta_token_ids:
            message = self._parser.extract_tool_calls_streaming(
                previous_text, self._text, delta_text, previous_ids, self._token_ids, list(delta_token_ids),
                self._request)
            if message is not None:
                content = message.content or ""
                calls = [call.model_dump(exclude_none=True) for call in message.tool_calls]
        if finished:
            calls += self._rest_of_arguments()
        self._called = self._called or bool(calls)
        return content, calls

    def _rest_of_arguments(self) -> list[dict[str, Any]]:
        """Arguments the parser saw but had not streamed yet when the text ended (as vLLM's server sends them)."""
        parser = self._parser
        if not parser.prev_tool_call_arr:
            return []
        rest = parser.get_remaining_unstreamed_args()
        if not rest:
            return []
        return [{"index": len(parser.prev_tool_call_arr) - 1, "function": {"arguments": rest}}]


class NamedCall:
    """A named function forced: the whole output is its arguments, streamed as they come."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._started = False

    @property
    def called(self) -> bool:
        return self._started

    def feed(self, delta_text: str, delta_token_ids: Sequence[int], finished: bool) -> tuple[str, list[dict[str, Any]]]:
        if not delta_text:
            return "", []
        if not self._started:
            self._started = True
            return "", [{"index": 0, "id": call_id(), "type": "function",
                         "function": {"name": self._name, "arguments": delta_text}}]
        return "", [{"index": 0, "function": {"arguments": delta_text}}]


class RequiredCalls:
    """``required``: the output is a JSON list of ``{"name", "parameters"}``; each call is sent whole once the
    list is complete (a list cut short by ``max_tokens`` sends what is not JSON as content)."""

    def __init__(self) -> None:
        self._text = ""
        self._called = False

    @property
    def called(self) -> bool:
        return self._called

    def feed(self, delta_text: str, delta_token_ids: Sequence[int], finished: bool) -> tuple[str, list[dict[str, Any]]]:
        self._text += delta_text
        if not finished:
            return "", []
        try:
            calls = json.loads(self._text)
        except json.JSONDecodeError:
            return self._text, []
        if not isinstance(calls, list):
            return self._text, []
        self._called = bool(calls)
        return "", [{"index": index, "id": call_id(), "type": "function",
                     "function": {"name": call.get("name", ""),
                                  "arguments": json.dumps(call.get("parameters", {}), ensure_ascii=False)}}
                    for index, call in enumerate(calls) if isinstance(call, dict)]


def extractor(tools: ToolCalling, parser_name: str | None, tokenizer: TokenizerLike,
              request: ChatCompletionRequest) -> CallExtractor | None:
    """The extractor for one choice; None where nothing is to be read out (``tool_choice: "none"``)."""
    choice = tools.choice
    if choice == "none":
        return None
    if isinstance(choice, dict):
        return NamedCall(str(choice["function"]["name"]))
    if choice == "required":
        return RequiredCalls()
    if parser_name is None:
        return None
    return ParsedCalls.create(parser_name, tokenizer, request)
