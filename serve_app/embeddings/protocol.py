"""``POST /v1/embeddings`` request schema, named as OpenAI names it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.body_bounds import MAX_INPUTS
from serve_app.errors import InvalidRequestError
from serve_app.protocol import TextOrTokens, as_list


class EmbeddingCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    input: TextOrTokens
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @model_validator(mode="after")
    def _non_empty(self) -> EmbeddingCreateRequest:
        inputs = self.inputs()
        if not inputs or not all(inputs):
            raise InvalidRequestError("'input' must be a non-empty string, or a non-empty list of non-empty "
                                      "strings or token-id lists.", param="input")
        if len(inputs) > MAX_INPUTS:
            raise InvalidRequestError(f"At most {MAX_INPUTS} inputs per request.", param="input")
        return self

    def inputs(self) -> list[str | list[int]]:
        return as_list(self.input)
