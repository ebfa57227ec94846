"""``POST /v1/chat/completions`` request schema, named as OpenAI names it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from serve_app.chat.tools import AssistantToolCall, FunctionTool, ToolChoice, check_schema, check_tools
from serve_app.errors import InvalidRequestError
from serve_app.protocol import GenerationParams, JSONSchemaFormat, ResponseFormat

MAX_TOP_LOGPROBS = 20
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class _Message(BaseModel):
    # Clients (LangChain, LlamaIndex) add fields of their own to messages; they carry no meaning here.
    model_config = ConfigDict(extra="ignore")

    name: str | None = None


class SystemMessage(_Message):
    role: Literal["system", "developer"]
    content: str | list[TextPart]


class UserMessage(_Message):
    role: Literal["user"]
    content: str | list[ContentPart]


class AssistantMessage(_Message):
    role: Literal["assistant"]
    content: str | list[TextPart] | None = None
    tool_calls: list[AssistantToolCall] | None = None


class ToolMessage(_Message):
    """A tool's result, answering one of the calls of an earlier assistant message."""

    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str = Field(min_length=1)


def _role_tag(message: Any) -> str | None:
    role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
    if not isinstance(role, str):  # a list or an object as role: no tag (it must not raise)
        return None
    return {"system": "system", "developer": "system", "user": "user", "assistant": "assistant",
            "tool": "tool"}.get(role)


# Tagged by role; the tags carry a `=` so that error paths can leave them out (errors.py).
ChatMessage = Annotated[
    Annotated[SystemMessage, Tag("role=system")]
    | Annotated[UserMessage, Tag("role=user")]
    | Annotated[AssistantMessage, Tag("role=assistant")]
    | Annotated[ToolMessage, Tag("role=tool")],
    Discriminator(
        lambda message: f"role={tag}" if (tag := _role_tag(message)) else None,
        custom_error_type="invalid_role",
        custom_error_message="role must be one of system, developer, user, assistant or tool",
    ),
]


def _text(content: str | list[TextPart] | list[TextPart | ImagePart] | None) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content or () if isinstance(part, TextPart))


class ChatCompletionRequest(GenerationParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    reasoning_effort: ReasoningEffort | None = Field(
        default=None, description="Passed to the chat template of models that read it; accepted by every model.")
    # Accepted and ignored: nothing here stores, caches by key, tiers or identifies end users.
    metadata: dict[str, str] | None = None
    store: bool | None = Field(default=None, description="Only false or null: nothing is stored.")
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    safety_identifier: str | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    prediction: dict[str, Any] | None = None
    modalities: list[Literal["text", "audio"]] | None = Field(default=None, description='Only ["text"].')
    # Refused when set: what this platform does not offer.
    audio: dict[str, Any] | None = Field(default=None, description="Not supported: only null.")
    web_search_options: dict[str, Any] | None = Field(default=None, description="Not supported: only null.")
    functions: list[Any] | None = Field(default=None, description="Deprecated by OpenAI: use `tools`.")
    function_call: Any = Field(default=None, description="Deprecated by OpenAI: use `tool_choice`.")

    @model_validator(mode="after")
    def _chat_supported(self) -> ChatCompletionRequest:  # not `_supported`: that would hide the parent's
        refused = {"store": self.store is True, "audio": self.audio is not None,
                   "modalities": "audio" in (self.modalities or ()),
                   "web_search_options": self.web_search_options is not None,
                   "functions": self.functions is not None, "function_call": self.function_call is not None}
        reasons = {"store": "store: true is not supported: this platform keeps no prompts or answers.",
                   "audio": "Audio output is not supported on this platform.",
                   "modalities": "Only the text modality is supported on this platform.",
                   "web_search_options": "Web search is not supported on this platform.",
                   "functions": "'functions' is deprecated and not supported: use 'tools'.",
                   "function_call": "'function_call' is deprecated and not supported: use 'tool_choice'."}
        for param, is_refused in refused.items():
            if is_refused:
                raise InvalidRequestError(reasons[param], param=param, code="unsupported_parameter")
        if self.top_logprobs is not None and not self.logprobs:
            raise InvalidRequestError("Invalid value for 'top_logprobs': 'logprobs' must be true when "
                                      "'top_logprobs' is used.", param="top_logprobs", code="invalid_value")
        check_tools(self.tools or [], self.tool_choice)
        if isinstance(self.response_format, JSONSchemaFormat) and self.response_format.json_schema.schema_:
            check_schema(self.response_format.json_schema.schema_, "response_format.json_schema.schema")
        self._check_tool_results()
        return self

    def _check_tool_results(self) -> None:
        """Each tool message answers a call of an earlier assistant message (as OpenAI requires)."""
        called: set[str] = set()
        for index, message in enumerate(self.messages):
            if isinstance(message, AssistantMessage):
                called.update(call.id for call in message.tool_calls or ())
            elif isinstance(message, ToolMessage) and message.tool_call_id not in called:
                raise InvalidRequestError(
                    f"Invalid parameter: the message with role 'tool' at messages[{index}] answers tool call "
                    f"'{message.tool_call_id}', which no earlier assistant message made.",
                    param=f"messages[{index}].tool_call_id", code="invalid_value")

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools)

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The schema the answer must follow (``response_format: json_schema``); ``{}`` for one without schema."""
        if isinstance(self.response_format, JSONSchemaFormat):
            return self.response_format.json_schema.schema_ or {}
        return None

    @property
    def json_object(self) -> bool:
        return self.response_format is not None and self.response_format.type == "json_object"

    @property
    def top_logprobs_count(self) -> int | None:
        """Alternatives per token to return (None: no log probabilities)."""
        return (self.top_logprobs or 0) if self.logprobs else None

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def text_characters(self) -> int:
        """How much text the conversation carries, tool definitions and calls included (for a token estimate
        before the engine counts)."""
        total = sum(len(_text(message.content)) for message in self.messages)
        for message in self.messages:
            if isinstance(message, AssistantMessage):
                total += sum(len(call.function.name) + len(call.function.arguments)
                             for call in message.tool_calls or ())
        if self.tools:
            total += sum(len(tool.model_dump_json()) for tool in self.tools)
        return total

    def guard_messages(self) -> list[tuple[str, str]]:
        """``(role, text)`` of every message, in order, for the prompt guard: text parts joined as the engine
        sees them (images are not text); the guard decides what each role is inspected for. Tool results are
        text from outside the conversation (indirect prompt injection comes through them): the guard reads
        them whole, as any client content."""
        return [(message.role, _text(message.content)) for message in self.messages]

    @property
    def has_images(self) -> bool:
        return any(
            isinstance(part, ImagePart)
            for message in self.messages
            if isinstance(message.content, list)
            for part in message.content
        )

    def engine_messages(self) -> list[dict[str, Any]]:
        """Messages as the engine's chat template takes them: text parts joined into one string, or, when
        the conversation has images, OpenAI content parts that the engine's renderer turns into images;
        assistant tool calls and tool results as OpenAI sends them."""
        keep_parts = self.has_images
        rendered = []
        for message in self.messages:
            role = "system" if message.role == "developer" else message.role
            content: Any = message.content
            if isinstance(content, list):
                content = ([part.model_dump(exclude_none=True) for part in content] if keep_parts
                           else _text(content))
            item: dict[str, Any] = {"role": role, "content": content or ""}
            if isinstance(message, AssistantMessage) and message.tool_calls:
                item["tool_calls"] = [call.model_dump() for call in message.tool_calls]
            elif isinstance(message, ToolMessage):
                item["tool_call_id"] = message.tool_call_id
            rendered.append(item)
        return rendered
