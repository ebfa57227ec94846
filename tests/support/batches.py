"""What the Batch API's tests do as a client: wait for a batch to end, download a result file once."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import openai

from serve_app.batches.store import BatchStore, InFlightLimitError

KEY_HEADER = "x-llmaas-file-key"
ENDED = {"completed", "failed", "expired", "cancelled"}
T = TypeVar("T")


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


def batch_row(n: int, key_id: str) -> dict[str, Any]:
    """A batch row as the API writes it, for store-level tests."""
    return {"id": f"batch_{key_id}_{n}", "key_id": key_id, "status": "validating", "endpoint": "/v1/completions",
            "input_file_id": f"file-{key_id}-{n}", "input_blob": f"in_{n}", "completion_window": "24h", "total": 1,
            "output_retention": 60, "created_at": n, "expires_at": 10**10}


def file_row(n: int, key_id: str) -> dict[str, Any]:
    return {"id": f"file-{key_id}-in-{n}", "key_id": key_id, "purpose": "batch", "filename": "a.jsonl", "bytes": 1,
            "lines": 1, "endpoint": "/v1/completions", "blob": f"in_{key_id}_{n}", "created_at": n,
            "expires_at": 10**10}


def race(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Runs every call at once, each in its own thread released by one barrier; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[T | Exception] = [RuntimeError("not run")] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 - the caller looks at every outcome
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def check_store_under_races(store: BatchStore, key_id: str) -> None:
    """Eight creations racing for three slots take three; eight replicas racing for one batch: one claims it; a
    batch ends once and gives its slot back once."""
    outcomes = race([functools.partial(store.create_batch, batch_row(n, key_id), 3) for n in range(8)])
    created = [batch_row(n, key_id)["id"] for n, outcome in enumerate(outcomes) if outcome is None]
    assert len(created) == 3 and all(isinstance(o, InFlightLimitError) for o in outcomes if o is not None), outcomes
    now = time.time()
    claims = race([functools.partial(store.claim, f"replica_{n}", now, now + 60) for n in range(8)])
    claimed = [claim["id"] for claim in claims if isinstance(claim, dict)]
    assert len(claimed) == len(set(claimed)) == 3  # each batch claimed by one replica only
    ends = race([functools.partial(store.finish, created[0], "cancelled", 1, None, None) for _ in range(4)])
    assert ends.count(True) == 1
    outcomes = race([functools.partial(store.create_batch, batch_row(n, key_id), 3) for n in range(10, 14)])
    assert sum(outcome is None for outcome in outcomes) == 1  # the one slot given back, taken once
    files = race([functools.partial(store.add_file, file_row(n, key_id), 2) for n in range(6)])
    assert sum(outcome is None for outcome in files) == 2
