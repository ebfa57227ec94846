"""What the Batch API's tests do as a client: wait for a batch to end, download a result file once."""

from __future__ import annotations

import json
import time
from typing import Any

import openai

KEY_HEADER = "x-llmaas-file-key"
ENDED = {"completed", "failed", "expired", "cancelled"}


def wait_for_batch(sdk: openai.OpenAI, batch_id: str, timeout: float) -> Any:
    """The batch once it has ended; errors while an ingress replica restarts are waited out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            batch = sdk.batches.retrieve(batch_id)
        except (openai.APIConnectionError, openai.APIStatusError):
            time.sleep(1)
            continue
        if batch.status in ENDED:
            return batch
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} did not end in {timeout} s")


def download(sdk: openai.OpenAI, file_id: str, file_key: str) -> dict[str, Any]:
    """A result file's lines by custom_id."""
    content = sdk.files.content(file_id, extra_headers={KEY_HEADER: file_key})
    return {line["custom_id"]: line for line in map(json.loads, content.text.splitlines())}
