"""``POST /v1/responses`` request schema (OpenAI's Responses API, stateless), and its translation to the chat
request the shared generation step serves.

Nothing is stored: ``store`` is accepted whatever its value and every response says ``"store": false``;
``previous_response_id`` and ``conversation`` are 400s (no earlier response is kept to continue from), and so
is ``background`` (no response is kept to fetch later).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.chat.protocol import ChatCompletionRequest, ReasoningEffort
from serve_app.chat.tools import NAME_PATTERN, FunctionDefinition
from serve_app.errors import InvalidRequestError

NOTHING_KEPT = ("this platform keeps no responses (store is always false): send the whole conversation in "
                "`input` instead")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["input_text", "output_text", "input_image", "refusal", "input_file", "input_audio"]
    text: str | None = None
    image_url: str | None = None
    detail: Literal["auto", "low", "high"] | None = None
    refusal: str | None = None


class InputItem(BaseModel):
    """A message (``type`` ``message`` or none), a function call the model made, or a function's output."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["message", "function_call", "function_call_output", "reasoning"] = "message"
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: str | list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


class FunctionToolSpec(FunctionDefinition):
    """The Responses API's function tool: the definition's fields at the top level, beside ``type``."""

    type: Literal["function"]


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    name: str = Field(min_length=1)


class TextFormatSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")  # `verbosity` and later additions: accepted

    format: TextFormatSpec | None = None


class ReasoningOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")  # `summary`: accepted, nothing is summarized

    effort: ReasoningEffort | None = None


class ResponseCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    input: str | list[InputItem] = Field(min_length=1)
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedFunction | None = None
    parallel_tool_calls: bool | None = None
    text: TextOptions | None = None
    reasoning: ReasoningOptions | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool = False
    store: bool | None = Field(default=None, description="Accepted; nothing is stored: every response says false.")
    metadata: dict[str, str] | None = None
    user: str | None = None
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    prompt_cache_retention: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    context_management: Any = Field(default=None, description="Accepted and ignored: nothing is kept between calls.")
    max_tool_calls: int | None = Field(default=None, ge=1, description="Accepted: no built-in tools run here.")
    stream_options: dict[str, Any] | None = None
    prompt: Any = Field(default=None, description="Not supported: reusable prompts are stored; nothing is.")
    previous_response_id: str | None = Field(default=None, description="Not supported: nothing is kept.")
    conversation: Any = Field(default=None, description="Not supported: nothing is kept.")
    background: bool | None = Field(default=None, description="Only false: no response is kept to fetch later.")

    @model_validator(mode="after")
    def _stateless(self) -> ResponseCreateRequest:
        for param, given in (("previous_response_id", self.previous_response_id is not None),
                             ("prompt", self.prompt is not None),
                             ("conversation", self.conversation is not None), ("background", bool(self.background))):
            if given:
                raise InvalidRequestError(f"'{param}' is not supported: {NOTHING_KEPT}.", param=param,
                                          code="unsupported_parameter")
        return self

    def function_tools(self) -> list[FunctionToolSpec]:
        tools = []
        for index, tool in enumerate(self.tools or []):
            if tool.get("type") != "function":
                raise InvalidRequestError(f"Tools of type {tool.get('type')!r} are not supported on this platform: "
                                          "only function tools.", param=f"tools[{index}].type",
                                          code="unsupported_parameter")
            tools.append(FunctionToolSpec.model_validate(tool, strict=True))
        return tools

    def to_chat(self) -> ChatCompletionRequest:
        """The same request in Chat Completions terms, for the shared generation step (one choice)."""
        chat: dict[str, Any] = {"model": self.model, "messages": self._messages(), "stream": self.stream,
                                "n": 1}
        if self.max_output_tokens is not None:
            chat["max_completion_tokens"] = self.max_output_tokens
        for field in ("temperature", "top_p", "parallel_tool_calls"):
            if getattr(self, field) is not None:
                chat[field] = getattr(self, field)
        if self.top_logprobs is not None:
            chat.update(logprobs=True, top_logprobs=self.top_logprobs)
        if tools := self.function_tools():
            chat["tools"] = [{"type": "function", "function": tool.model_dump(exclude_none=True, exclude={"type"})}
                             for tool in tools]
        if isinstance(self.tool_choice, NamedFunction):
            chat["tool_choice"] = {"type": "function", "function": {"name": self.tool_choice.name}}
        elif self.tool_choice is not None:
            chat["tool_choice"] = self.tool_choice
        if self.text is not None and self.text.format is not None and self.text.format.type != "text":
            form = self.text.format
            chat["response_format"] = ({"type": "json_object"} if form.type == "json_object" else {
                "type": "json_schema", "json_schema": {"name": form.name or "response",
                                                       **form.model_dump(exclude_none=True, by_alias=True,
                                                                         exclude={"type", "name"})}})
        if self.reasoning is not None and self.reasoning.effort is not None:
            chat["reasoning_effort"] = self.reasoning.effort
        return ChatCompletionRequest.model_validate(chat, strict=True)

    def _messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.instructions:
            messages.append({"role": "system", "content": self.instructions})
        if isinstance(self.input, str):
            return [*messages, {"role": "user", "content": self.input}]
        for index, item in enumerate(self.input):
            if item.type == "reasoning":
                continue  # a reasoning model's earlier thinking: not sent back to the model
            if item.type == "function_call":
                call = {"id": item.call_id or "", "type": "function",
                        "function": {"name": item.name or "", "arguments": item.arguments or ""}}
                if messages and messages[-1]["role"] == "assistant" and messages[-1].get("tool_calls") is not None:
                    messages[-1]["tool_calls"].append(call)
                else:
                    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif item.type == "function_call_output":
                messages.append({"role": "tool", "tool_call_id": item.call_id or "", "content": item.output or ""})
            else:
                messages.append({"role": item.role or "user", "content": _content(item, index)})
        return messages


def _content(item: InputItem, index: int) -> str | list[dict[str, Any]]:
    if item.content is None or isinstance(item.content, str):
        return item.content or ""
    parts: list[dict[str, Any]] = []
    for p, part in enumerate(item.content):
        if part.type in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.text or ""})
        elif part.type == "refusal":
            parts.append({"type": "text", "text": part.refusal or ""})
        elif part.type == "input_image" and part.image_url:
            image: dict[str, Any] = {"url": part.image_url}
            if part.detail:
                image["detail"] = part.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise InvalidRequestError(f"Content of type {part.type!r} is not supported on this platform (images as "
                                      "`image_url`, and text, are).", param=f"input[{index}].content[{p}]",
                                      code="unsupported_parameter")
    return parts
