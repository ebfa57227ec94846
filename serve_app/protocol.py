"""Request fields that chat and completions share, named and bounded as OpenAI names and bounds them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    user: str | None = None
    logit_bias: dict[str, float] | None = Field(
        default=None, json_schema_extra={"maxProperties": 0}, description="Not supported: only `{}` or null.")
    logprobs: Any = Field(default=None, json_schema_extra={"enum": [False, 0, None]},
                          description="Not supported: only false, 0 or null.")

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
        if self.logit_bias:
            raise InvalidRequestError("logit_bias is not supported on this platform.", param="logit_bias")
        if self.logprobs not in (None, False, 0):
            raise InvalidRequestError("logprobs are not supported on this platform.", param="logprobs")
        return self

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def sampling(self, *, max_tokens: int | None, json_object: bool = False) -> SamplingOptions:
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
        )


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object"]
