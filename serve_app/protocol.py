"""Request fields that chat and completions share, named and bounded as OpenAI names and bounds them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from deployments.llm_protocol import SamplingOptions
from serve_app.errors import InvalidRequestError

MAX_STOP_SEQUENCES = 4
# Token ids and seeds are bounded so that no engine is handed a number it cannot hold.
MAX_TOKEN_ID = 2**31 - 1
INT64 = 2**63
TokenId = Annotated[int, Field(ge=0, le=MAX_TOKEN_ID)]
Text = Annotated[str, Field(min_length=1)]
TokenIds = Annotated[list[TokenId], Field(min_length=1)]
# OpenAI's `prompt` / `input`: a string, strings, token ids, or lists of token ids; nothing empty.
TextOrTokens = Text | Annotated[list[Text], Field(min_length=1)] | TokenIds | Annotated[list[TokenIds],
                                                                                      Field(min_length=1)]


def as_list(value: TextOrTokens) -> list[str | list[int]]:
    """OpenAI's `prompt` / `input` union as a list of items, each a string or a list of token ids."""
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(token, int) for token in value):
        return [value]  # type: ignore[list-item]
    return list(value)  # type: ignore[arg-type]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class GenerationParams(BaseModel):
    """The sampling and streaming fields of ``/v1/chat/completions`` and ``/v1/completions``."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int = Field(default=1, ge=1, le=128)
    stop: Text | list[Text] | None = Field(default=None, description="Up to 4 sequences, none empty.")
    seed: int | None = Field(default=None, ge=-INT64, lt=INT64)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, description="Accepted and ignored (no end-user ids are kept).")
    logit_bias: dict[str, float] | None = Field(
        default=None, description="Token id (as a string) -> bias from -100 to 100, added to that token's logit.")

    @field_validator("stop")
    @classmethod
    def _few_stop_sequences(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and len(stop) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed")
        return stop

    @model_validator(mode="after")
    def _supported(self) -> GenerationParams:
        if self.stream_options is not None and not self.stream:
            raise InvalidRequestError(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        for token, bias in (self.logit_bias or {}).items():
            if not token.isdigit() or int(token) > MAX_TOKEN_ID:
                raise InvalidRequestError(f"Invalid key in 'logit_bias': {token!r} is not a token id.",
                                          param="logit_bias", code="invalid_value")
            if not -100 <= bias <= 100:
                raise InvalidRequestError(f"Invalid value in 'logit_bias' for token {token}: {bias} is not between "
                                          "-100 and 100.", param="logit_bias", code="invalid_value")
        return self

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def sampling(self, *, max_tokens: int | None, json_object: bool = False, json_schema: dict[str, Any] | None = None,
                 logprobs: int | None = None, echo: bool = False) -> SamplingOptions:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return SamplingOptions(
            max_tokens=max_tokens,
            temperature=self.temperature,
            # OpenAI accepts top_p=0 (greedy nucleus); engines need it strictly positive.
            top_p=None if self.top_p is None else max(self.top_p, 1e-6),
            n=self.n,
            stop=stop,
            seed=self.seed,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            json_object=json_object,
            json_schema=json_schema,
            logprobs=logprobs,
            echo=echo,
            logit_bias={int(token): bias for token, bias in self.logit_bias.items()} if self.logit_bias else None,
        )


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]


class JSONObjectFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["json_object"]


class JSONSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class JSONSchemaFormat(BaseModel):
    """Structured outputs: the answer is JSON that follows ``json_schema.schema`` (enforced while decoding, with
    or without ``strict``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["json_schema"]
    json_schema: JSONSchema


def _format_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"type={kind}" if kind in ("text", "json_object", "json_schema") else None


# Tagged by type; the tags carry a `=` so that error paths leave them out (errors.py).
ResponseFormat = Annotated[
    Annotated[TextFormat, Tag("type=text")]
    | Annotated[JSONObjectFormat, Tag("type=json_object")]
    | Annotated[JSONSchemaFormat, Tag("type=json_schema")],
    Discriminator(_format_tag, custom_error_type="invalid_type",
                  custom_error_message="type must be one of text, json_object or json_schema"),
]
