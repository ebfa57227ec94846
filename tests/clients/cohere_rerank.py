"""Cohere's own SDK pointed at the platform: its v2 client (``/v2/rerank``) and its v1 client (``/v1/rerank``).

Runs in ``.venv-clients``. Reads ``LLMAAS_ROOT_URL`` (the platform's URL, without ``/v1``: the SDK adds its own
version), ``LLMAAS_API_KEY``, ``LLMAAS_MODEL`` and ``LLMAAS_QUERY`` / ``LLMAAS_DOCUMENTS`` (JSON); prints one
JSON object of what each client saw."""

from __future__ import annotations

import json
import os

import cohere


def main() -> None:
    base_url, key, model = os.environ["LLMAAS_ROOT_URL"], os.environ["LLMAAS_API_KEY"], os.environ["LLMAAS_MODEL"]
    query, documents = os.environ["LLMAAS_QUERY"], json.loads(os.environ["LLMAAS_DOCUMENTS"])
    v2 = cohere.ClientV2(api_key=key, base_url=base_url).rerank(model=model, query=query, documents=documents,
                                                                   top_n=2)
    v1 = cohere.Client(api_key=key, base_url=base_url).rerank(model=model, query=query, documents=documents,
                                                                return_documents=True)
    print(json.dumps({
        "v2": [{"index": r.index, "relevance_score": r.relevance_score} for r in v2.results],
        "v2_tokens": v2.meta.tokens.input_tokens if v2.meta and v2.meta.tokens else None,
        "v1": [{"index": r.index, "relevance_score": r.relevance_score,
                "text": r.document.text if r.document else None} for r in v1.results],
    }))


if __name__ == "__main__":
    main()
