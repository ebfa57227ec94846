"""Runs batches in the background of each ingress replica, behind interactive traffic.

A replica claims one batch at a time in the database and renews its claim while it runs; a replica that dies
stops renewing, and another (or its own successor) takes the batch over and goes on where the results on disk
end. A line's usage reaches the metering actor before its result is written, so a result never exists unbilled.
Each run of a line has its own request id, prefixed by the line's place in the batch; a batch taken over after a
crash runs a line whose run the ledger already holds as completed (its result was lost) again under that run's
id, which the ledger counts once: no line is billed twice, and a run that failed or was cut off (metered with
what it consumed) does not hide the next one. At most ``concurrency`` lines of a batch run at once, each marked as
background work, which the model replicas hold back while they serve interactive requests
(``deployments.background_gate``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serve_app import tasks
from serve_app.batches.blobs import Appender, Blobs
from serve_app.batches.crypto import KeyMismatchError, unwrap
from serve_app.batches.execution import LineResult, run_line, unrun
from serve_app.batches.store import BatchStore, Row, result_blobs
from serve_app.governance.ledger import Ledger
from serve_app.governance.reporter import UsageReporter
from serve_app.http import JsonOperation
from serve_app.keys import ApiKey, KeyStore

LOGGER = logging.getLogger("serve_app")
CLAIM_SECONDS = 15.0  # a claim not renewed for this long passes to another replica
RENEW_SECONDS = 2.0  # how often a running batch renews its claim and looks for a cancellation
POLL_SECONDS = 1.0
SWEEP_SECONDS = 60.0  # how often a replica deletes expired files (and blobs no row names)
MAX_RETRY_WAIT_SECONDS = 30.0
# Why a batch stopped before its end: its status, and the error its unrun lines get in the error file.
ENDINGS = {
    "expired": ("expired", "batch_expired", "This request could not be executed before the completion window expired."),
    "cancelled": ("cancelled", "batch_cancelled", "The batch was cancelled before this request ran."),
    "revoked": ("failed", "api_key_revoked", "The API key that made this batch was revoked before this request ran."),
}


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int
    kek: bytes | None  # the operator's key-encryption key; None: batches are not offered


class BatchWorker:
    def __init__(self, store: BatchStore, blobs: Blobs, keys: KeyStore, ledger: Ledger,
                 operations: Mapping[str, JsonOperation], reporter: UsageReporter, config: WorkerConfig) -> None:
        self._store = store
        self._ledger = ledger
        self._blobs = blobs
        self._keys = keys
        self._operations = operations
        self._reporter = reporter
        self._config = config
        self._replica = "replica_" + secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        self._swept = -math.inf  # monotonic time of the last sweep

    def start(self) -> None:
        if self._config.kek is not None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stops running batches (the ingress's shutdown sends their queued usage, within its bound)."""
        if self._task is not None:
            await tasks.stop(self._task)

    async def _loop(self) -> None:
        while True:
            try:
                if time.monotonic() - self._swept >= SWEEP_SECONDS:
                    await asyncio.to_thread(self._sweep)
                    self._swept = time.monotonic()
                now = time.time()
                batch = await asyncio.to_thread(self._store.claim, self._replica, now, now + CLAIM_SECONDS)
                if batch is not None:
                    await BatchRun(self, batch).run()
                    continue
            except Exception:  # a database hiccup must not end the replica's batch work (logged)
                LOGGER.exception("batch worker round failed; trying again")
            await asyncio.sleep(POLL_SECONDS)

    def _sweep(self) -> None:
        """Deletes the files past their expiry, and any blob on disk that no row names any more."""
        for row in self._store.expired_files(time.time()):
            if self._store.remove_file(row["id"], row["key_id"]) is not None:
                self._blobs.delete(row["blob"])
        for orphan in self._blobs.names() - self._store.blob_names():
            self._blobs.delete(orphan)


class BatchRun:
    """One claimed batch, run to its end (or until this replica loses its claim)."""

    def __init__(self, worker: BatchWorker, batch: Row) -> None:
        self._worker = worker
        self._store = worker._store
        self._batch = batch
        self._id: str = batch["id"]
        self._lock = asyncio.Lock()
        self._stopping: str | None = None  # why no new line starts: a key of ENDINGS, or "lost"
        if batch["status"] == "cancelling":
            self._stopping = "cancelled"
        elif time.time() >= batch["expires_at"]:
            self._stopping = "expired"
        self._billed: dict[int, str] = {}  # lines whose run completed and was billed, by index: that run's id
        self._completed = self._failed = self._input_tokens = self._output_tokens = 0

    async def run(self) -> None:
        batch = self._batch
        assert self._worker._config.kek is not None
        try:
            file_key = unwrap(self._worker._config.kek, batch["wrapped_key"] or b"", self._id)
        except KeyMismatchError:
            await self._fail("batch_key_lost", "The platform restarted under another batch secret and can no longer "
                             "read this batch; upload the file again and create a new batch.")
            return
        key = await asyncio.to_thread(self._worker._keys.get, batch["key_id"])
        if key is None or key.revoked_at is not None:
            await self._fail("api_key_revoked", "The API key that created this batch was revoked.")
            return
        blobs = self._worker._blobs
        lines = [json.loads(line) for line in await asyncio.to_thread(lambda: list(blobs.read(batch["input_blob"],
                                                                                              file_key)))]
        output_blob, error_blob = result_blobs(self._id)
        output, errors = await asyncio.to_thread(lambda: (blobs.appender(output_blob, file_key),
                                                          blobs.appender(error_blob, file_key)))
        done = await asyncio.to_thread(self._done, blobs, (output_blob, error_blob), file_key)
        for request_id in await asyncio.to_thread(self._worker._ledger.completed_under, f"{self._id}-"):
            self._billed[int(request_id.removeprefix(f"{self._id}-").split("-")[0])] = request_id
        await asyncio.to_thread(self._store.start, self._id, int(time.time()))
        keeper = asyncio.get_running_loop().create_task(self._keep_claim())
        try:
            await self._run_lines(lines, done, key, output, errors)
        finally:
            await tasks.stop(keeper)
        if self._stopping == "lost":
            return
        await self._finish(lines, done, output, errors)

    def _done(self, blobs: Blobs, names: tuple[str, str], file_key: bytes) -> set[str]:
        """The lines whose results are on disk already (a batch taken over), counted back into the totals."""
        done: set[str] = set()
        for name in names:
            for record in blobs.read(name, file_key):
                result = json.loads(record)
                done.add(result["custom_id"])
                response = result.get("response") or {}
                line = LineResult(result["custom_id"], response.get("status_code", 0), response.get("body") or {})
                self._count(line)
        return done

    def _count(self, result: LineResult) -> None:
        if result.succeeded:
            self._completed += 1
        else:
            self._failed += 1
        tokens_in, tokens_out = result.usage()
        self._input_tokens += tokens_in
        self._output_tokens += tokens_out

    async def _run_lines(self, lines: list[dict[str, Any]], done: set[str], key: ApiKey, output: Appender,
                         errors: Appender) -> None:
        gate = asyncio.Semaphore(self._worker._config.concurrency)
        operation = self._worker._operations[self._batch["endpoint"]]

        async def one(index: int, line: dict[str, Any]) -> None:
            async with gate:
                if self._stopping:
                    return
                ran = await self._attempts(operation, line, key, index)
                if ran is None:
                    return
                result, request_id = ran
                await self._worker._reporter.flush()  # billed before the result exists: never a free result
                async with self._lock:
                    await asyncio.to_thread((output if result.succeeded else errors).append, result.record(request_id))
                    done.add(line["custom_id"])
                    self._count(result)
                    await asyncio.to_thread(self._store.progress, self._id, self._completed, self._failed,
                                            self._input_tokens, self._output_tokens)

        pending = [one(index, line) for index, line in enumerate(lines) if line["custom_id"] not in done]
        await asyncio.gather(*pending)

    async def _attempts(self, operation: JsonOperation, line: dict[str, Any], key: ApiKey,
                        index: int) -> tuple[LineResult, str] | None:
        """The line's result and the id it ran under, run again while its refusal passes (a rate limit); None if
        the batch stops first."""
        while not self._stopping:
            request_id = self._billed.get(index) or f"{self._id}-{index}-{secrets.token_hex(4)}"
            result = await run_line(operation, line, key, request_id)
            if result.retry_after is None:
                return result, request_id
            await asyncio.sleep(min(max(result.retry_after, 0.5), MAX_RETRY_WAIT_SECONDS))
        return None

    async def _keep_claim(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            now = time.time()
            status = await asyncio.to_thread(self._store.renew, self._id, self._worker._replica, now + CLAIM_SECONDS)
            if status is None:
                self._stopping = "lost"
            elif status == "cancelling":
                self._stopping = self._stopping or "cancelled"
            elif now >= (self._batch["expires_at"] or now + 1):
                self._stopping = self._stopping or "expired"
            key = await asyncio.to_thread(self._worker._keys.get, self._batch["key_id"])
            if key is None or key.revoked_at is not None:
                self._stopping = self._stopping or "revoked"

    async def _finish(self, lines: list[dict[str, Any]], done: set[str], output: Appender, errors: Appender) -> None:
        stopped = self._stopping or ("expired" if time.time() >= self._batch["expires_at"] else None)
        status, code, message = ENDINGS.get(stopped or "", ("completed", "", ""))
        for line in lines:
            if line["custom_id"] not in done:
                await asyncio.to_thread(errors.append, unrun(line["custom_id"], code, message))
                self._failed += 1
        await asyncio.to_thread(self._store.progress, self._id, self._completed, self._failed, self._input_tokens,
                                self._output_tokens)
        now = int(time.time())
        files = await asyncio.to_thread(lambda: [self._result_file(appender, kind, now)
                                                 for appender, kind in ((output, "output"), (errors, "error"))])
        errors_object = _errors(code, message) if status == "failed" else None
        if await asyncio.to_thread(self._store.finish, self._id, status, now, files[0], files[1], errors_object):
            await asyncio.to_thread(self._worker._blobs.delete, self._batch["input_blob"])

    def _result_file(self, appender: Appender, kind: str, now: int) -> Row | None:
        if appender.count == 0:
            return None
        size = self._worker._blobs.plaintext_bytes(appender.blob) + appender.count  # a newline after each line
        return {"id": "file-" + secrets.token_hex(12), "key_id": self._batch["key_id"], "purpose": "batch_output",
                "filename": f"{self._id}_{kind}.jsonl", "bytes": size, "lines": appender.count,
                "endpoint": None, "blob": appender.blob, "created_at": now,
                "expires_at": now + self._batch["output_retention"]}

    async def _fail(self, code: str, message: str) -> None:
        now = int(time.time())
        if await asyncio.to_thread(self._store.finish, self._id, "failed", now, None, None, _errors(code, message)):
            await asyncio.to_thread(self._worker._blobs.delete, self._batch["input_blob"])


def _errors(code: str, message: str) -> dict[str, Any]:
    """A batch's ``errors``, as OpenAI's batch object holds them."""
    return {"object": "list", "data": [{"code": code, "message": message, "param": None, "line": None}]}
