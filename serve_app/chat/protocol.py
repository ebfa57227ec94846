"""``POST /v1/chat/completions`` request schema, named as OpenAI names it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from serve_app.errors import InvalidRequestError
from serve_app.protocol import GenerationParams, ResponseFormat


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


def _role_tag(message: Any) -> str | None:
    role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
    if not isinstance(role, str):  # a list or an object as role: no tag (it must not raise)
        return None
    return {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}.get(role)


# Tagged by role; the tags carry a `=` so that error paths can leave them out (errors.py).
ChatMessage = Annotated[
    Annotated[SystemMessage, Tag("role=system")]
    | Annotated[UserMessage, Tag("role=user")]
    | Annotated[AssistantMessage, Tag("role=assistant")],
    Discriminator(
        lambda message: f"role={tag}" if (tag := _role_tag(message)) else None,
        custom_error_type="invalid_role",
        custom_error_message="role must be one of system, developer, user or assistant",
    ),
]


class ChatCompletionRequest(GenerationParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[Any] | None = Field(default=None, json_schema_extra={"maxItems": 0},
                                    description="Not supported yet: only empty or null.")
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    top_logprobs: int | None = None

    @model_validator(mode="after")
    def _no_tools(self) -> ChatCompletionRequest:
        if self.tools:
            raise InvalidRequestError("Tool calling is not supported on this platform yet.", param="tools")
        return self

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def text_characters(self) -> int:
        """How much text the conversation carries (for a token estimate before the engine counts)."""
        total = 0
        for message in self.messages:
            if isinstance(message.content, str):
                total += len(message.content)
            elif isinstance(message.content, list):
                total += sum(len(part.text) for part in message.content if isinstance(part, TextPart))
        return total

    def guard_messages(self) -> list[tuple[str, str]]:
        """``(role, text)`` of every message, in order, for the prompt guard: text parts joined as the engine
        sees them (images are not text); the guard decides what each role is inspected for."""
        return [(message.role, message.content if isinstance(message.content, str)
                 else "\n".join(part.text for part in message.content or () if isinstance(part, TextPart)))
                for message in self.messages]

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
        the conversation has images, OpenAI content parts that the engine's renderer turns into images."""
        keep_parts = self.has_images
        rendered = []
        for message in self.messages:
            role = "system" if message.role == "developer" else message.role
            content: Any = message.content
            if isinstance(content, list):
                content = ([part.model_dump(exclude_none=True) for part in content] if keep_parts
                           else "\n".join(part.text for part in content if isinstance(part, TextPart)))
            rendered.append({"role": role, "content": content or ""})
        return rendered
