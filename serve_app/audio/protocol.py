"""Form fields of ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``, named as OpenAI names
them. The audio itself travels apart, as the multipart ``file`` part (routes.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from serve_app.errors import InvalidRequestError

AudioResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
GRANULARITIES = "timestamp_granularities[]"


class CreateTranslationRequest(BaseModel):
    """Translation into English; OpenAI's translations take no ``language``."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    prompt: str | None = Field(default=None, description="Text to guide the style or continue a previous segment.")
    response_format: AudioResponseFormat = "json"
    temperature: float = Field(
        default=0, ge=0, le=1, description="0 lets the model raise it by itself when decoding fails (fallback)."
    )


class CreateTranscriptionRequest(CreateTranslationRequest):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    language: str | None = Field(
        default=None, pattern=r"^[a-z]{2,3}$", description="The spoken language, ISO-639-1 (e.g. `en`, `fr`)."
    )
    timestamp_granularities: list[Literal["segment", "word"]] | None = Field(
        default=None, alias="timestamp_granularities[]", description="Only `segment`, with `verbose_json`."
    )

    @field_validator("language", mode="before")
    @classmethod
    def _lowercase(cls, language: Any) -> Any:
        return language.strip().lower() if isinstance(language, str) else language

    @model_validator(mode="after")
    def _granularities_supported(self) -> CreateTranscriptionRequest:
        granularities = self.timestamp_granularities or []
        if "word" in granularities:
            raise InvalidRequestError("Word timestamps are not supported on this platform yet; use 'segment'.",
                                      param=GRANULARITIES, code="unsupported_value")
        if granularities and self.response_format != "verbose_json":
            raise InvalidRequestError("response_format must be set to verbose_json to use timestamp granularities.",
                                      param=GRANULARITIES)
        return self
