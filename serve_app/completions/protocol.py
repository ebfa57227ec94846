"""``POST /v1/completions`` request schema, named as OpenAI names it."""

from __future__ import annotations

from pydantic import Field, model_validator

from serve_app.errors import InvalidRequestError
from serve_app.protocol import GenerationParams, TextOrTokens, as_list

MAX_PROMPTS = 64
MAX_LOGPROBS = 5  # OpenAI's limit for the completions API


class CompletionRequest(GenerationParams):
    prompt: TextOrTokens
    max_tokens: int | None = Field(default=16, ge=1)
    echo: bool = Field(default=False, description="Each choice's text (and log probabilities) start with its prompt.")
    suffix: str | None = Field(default=None, json_schema_extra={"maxLength": 0},
                               description="Not supported: only empty or null.")
    best_of: int | None = Field(default=None, ge=1, description="Must equal `n` when given.")
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS,
                                 description="Each token's log probability and this many most likely alternatives.")

    @model_validator(mode="after")
    def _completion_supported(self) -> CompletionRequest:  # not `_supported`: that would hide the parent's
        if self.suffix:
            raise InvalidRequestError("suffix is not supported on this platform.", param="suffix")
        if self.best_of is not None and self.best_of != self.n:
            raise InvalidRequestError("best_of must equal n on this platform.", param="best_of")
        if not self.prompts() or not all(self.prompts()):
            raise InvalidRequestError("The prompt must not be empty.", param="prompt")
        if len(self.prompts()) > MAX_PROMPTS:
            raise InvalidRequestError(f"At most {MAX_PROMPTS} prompts per request.", param="prompt")
        return self

    def prompts(self) -> list[str | list[int]]:
        """The prompt as a list of prompts, each a string or a list of token ids."""
        return as_list(self.prompt)
