"""The Batch API put together from the settings: its store, its sealed files, its routes and its worker."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine
from starlette.routing import Route

from serve_app.auth import Authenticator
from serve_app.batches import files
from serve_app.batches import routes as batch_routes
from serve_app.batches.blobs import Blobs
from serve_app.batches.crypto import key_encryption_key
from serve_app.batches.store import BatchStore
from serve_app.batches.worker import BatchWorker, WorkerConfig
from serve_app.body_bounds import BodyBounds
from serve_app.governance.ledger import Ledger
from serve_app.governance.reporter import UsageReporter
from serve_app.http import JsonOperation
from serve_app.keys import KeyStore
from serve_app.settings import Settings

BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses")


class Batches:
    def __init__(self, settings: Settings, database: Engine, operations: Mapping[str, JsonOperation]) -> None:
        self._settings = settings
        self._store = BatchStore(database)
        self._blobs = Blobs(database)
        self._operations = operations
        secret = settings.batch_secret or settings.admin_token
        self._kek = key_encryption_key(secret) if secret else None

    @property
    def _retention_seconds(self) -> int:
        return int(self._settings.batch_retention_hours * 3600)

    def routes(self, auth: Authenticator, bounds: BodyBounds) -> list[Route]:
        settings = self._settings
        limits = files.FileLimits(settings.batch_max_file_bytes, settings.batch_max_requests, settings.max_body_bytes,
                                  settings.batch_max_files, self._retention_seconds)
        return [*files.routes(self._store, self._blobs, auth, limits, tuple(self._operations), bounds),
                *batch_routes.routes(self._store, self._blobs, auth, self._kek, settings.batch_max_in_flight,
                                     self._retention_seconds)]

    def body_limits(self, max_body_bytes: int) -> dict[str, int]:
        """Uploads under ``/v1/files`` may be as large as a batch file."""
        return {files.PREFIX: files.body_limit(max_body_bytes, self._settings.batch_max_file_bytes)}

    def worker(self, keys: KeyStore, ledger: Ledger, reporter: UsageReporter) -> BatchWorker:
        return BatchWorker(self._store, self._blobs, keys, ledger, self._operations, reporter,
                           WorkerConfig(self._settings.batch_concurrency, self._kek))
