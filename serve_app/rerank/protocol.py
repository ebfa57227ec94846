"""``POST /v1/rerank`` and ``/v2/rerank`` request schema, in Cohere's shape (as vLLM and LiteLLM serve it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.body_bounds import MAX_DOCUMENTS
from serve_app.errors import InvalidRequestError

# Cohere's SDKs call /v1/rerank (v1 client) and /v2/rerank (v2 client) under their base URL.
RERANK_PATHS = ("/v1/rerank", "/v2/rerank")


class RerankDocument(BaseModel):
    """A document given as an object (Cohere v1's ``{"text": ...}``)."""

    model_config = ConfigDict(extra="ignore")

    text: str


class RerankCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    query: str = Field(min_length=1)
    documents: list[str | RerankDocument] = Field(
        min_length=1, max_length=MAX_DOCUMENTS, description="Strings, or objects with a `text` field.")
    top_n: int | None = Field(default=None, ge=1, description="Return the best `top_n` results (default: all).")
    return_documents: bool = Field(default=False, description="Include each result's document text.")
    max_tokens_per_doc: int | None = Field(
        default=None, ge=1, description="Accepted; a document longer than the model reads is refused (400), never cut.")
    user: str | None = None

    @model_validator(mode="after")
    def _documents_have_text(self) -> RerankCreateRequest:
        for index, text in enumerate(self.texts()):
            if not text.strip():
                raise InvalidRequestError(f"Invalid 'documents[{index}]': a document must not be empty.",
                                          param=f"documents[{index}]", code="invalid_value")
        return self

    def texts(self) -> list[str]:
        return [document if isinstance(document, str) else document.text for document in self.documents]
