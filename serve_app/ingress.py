"""The ingress deployment: the OpenAI HTTP schema in front of the model deployments."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from serve_app import admin, cluster_metrics, console, health, metrics, models_api, openapi, organisation_admin
from serve_app.audio import routes as audio_routes
from serve_app.audio.serving import TranscriptionService
from serve_app.audit import AuditLog, audited
from serve_app.audit import routes as audit_routes
from serve_app.auth import Authenticator
from serve_app.batches.assembly import BATCH_ENDPOINTS, Batches
from serve_app.batches.worker import BatchWorker
from serve_app.body_bounds import BodyBounds
from serve_app.catalog import Catalog
from serve_app.chat.images import ImagePolicy
from serve_app.chat.protocol import ChatCompletionRequest
from serve_app.chat.serving import ChatService
from serve_app.completions.protocol import CompletionRequest
from serve_app.completions.serving import CompletionService
from serve_app.database import connect
from serve_app.embeddings.protocol import EmbeddingCreateRequest
from serve_app.embeddings.serving import EmbeddingService
from serve_app.engine_client import DeploymentEngine
from serve_app.errors import EXCEPTION_TYPES, handle_exception
from serve_app.generation_step import GenerationStep
from serve_app.governance import usage_api
from serve_app.governance.admission import Governance
from serve_app.governance.holdings import Holdings
from serve_app.governance.leases import LeasedMeter
from serve_app.governance.ledger import Ledger
from serve_app.governance.limits import RequestLimits
from serve_app.governance.meter import ActorMeter, Meter
from serve_app.governance.quotas import load_tiers
from serve_app.governance.reporter import UsageReporter
from serve_app.guardrails import PromptGuard
from serve_app.guardrails.gate import GuardGate
from serve_app.http import JsonOperation, RequestContextMiddleware, json_endpoint
from serve_app.keys import KeyCache, KeyStore
from serve_app.oidc import OidcVerifier
from serve_app.organisations.admins import OrganisationAdmins
from serve_app.organisations.alert_store import AlertStore
from serve_app.organisations.alerts import BudgetWatcher, Webhook
from serve_app.organisations.store import OrganisationStore
from serve_app.rerank.protocol import RERANK_PATHS, RerankCreateRequest
from serve_app.rerank.serving import RerankService
from serve_app.responses.protocol import ResponseCreateRequest
from serve_app.responses.serving import ResponsesService
from serve_app.routing import HealthChecked, ModelRouter
from serve_app.settings import Settings
from serve_app.status import routes as status_routes
from serve_app.status.report import StatusReport

LOGGER = logging.getLogger("serve_app")


def build_asgi_app(settings: Settings, catalog: Catalog, engines: Mapping[str, HealthChecked], meter: Meter,
                   today: Callable[[], dt.date] | None = None, recorder: metrics.Metrics | None = None,
                   guard: PromptGuard | None = None) -> ASGIApp:
    """The whole HTTP API as a Starlette app; engines are Serve handles or, in unit tests, stand-ins, and
    ``meter`` the metering actor or, in unit tests, its logic in-process; ``recorder`` records metrics (Ray's
    metrics by default); ``guard`` is the prompt guard (by default one built from the settings: unit tests
    share one, as it takes a moment to build)."""
    database = connect(settings)
    store = KeyStore(database)
    cache = KeyCache(store, settings.key_cache_seconds)
    organisations = OrganisationStore(database)
    sessions = console.ConsoleSessions(database)
    auth = Authenticator(cache, settings.admin_token, oidc_verifier(settings), require_keys=settings.governance,
                         organisations=OrganisationAdmins(organisations), sessions=sessions,
                         oidc_issuer=settings.oidc_issuer)
    tiers = load_tiers(settings.tiers)
    leased = LeasedMeter(meter, settings.admission_lease_seconds)
    holdings = Holdings(leased)
    reporter = UsageReporter(leased, settings.metering_retry_seconds, settings.metering_interval_seconds, holdings)
    governance = Governance(tiers, leased, reporter, holdings, organisations)
    recorder = recorder or metrics.Metrics()
    engines = metrics.instrument(engines, recorder)
    route = functools.partial(ModelRouter, today=today) if today else ModelRouter
    router = route(catalog, engines)
    status = StatusReport(database, router, settings)
    monitor = health.HealthMonitor(router.engines, settings.health_timeout_seconds, settings.health_refresh_seconds,
                                   status.probed_down)
    guard = guard or PromptGuard(threshold=settings.guard_threshold, max_chars=settings.guard_max_chars,
                                 max_total_chars=settings.guard_max_total_chars)
    gate = GuardGate(guard, recorder)
    limits = RequestLimits.from_settings(settings)
    images = ImagePolicy(settings.max_image_bytes, settings.image_url_allowed_hosts, settings.max_image_pixels,
                         settings.image_url_allow_private)
    operations = json_operations(router, governance, limits, gate, images)
    # Batches run the same operations at the batch price, their usage sent to the meter before results are kept.
    batch_router = route(catalog.at_batch_prices(), engines)
    batch_reporter = UsageReporter(leased, settings.metering_retry_seconds, 0.0, holdings)
    batch_operations = json_operations(batch_router, Governance(tiers, leased, batch_reporter, holdings, organisations),
                                       limits, gate,
                                       images, background=True)
    batches = Batches(settings, database, {path: batch_operations[path] for path in BATCH_ENDPOINTS})
    ledger = Ledger(database)
    worker = batches.worker(store, ledger, batch_reporter)
    watcher = BudgetWatcher(organisations, ledger, AlertStore(database), settings.budget_alert_interval_seconds,
                            deliver=Webhook(settings.webhook_secret, settings.webhook_allow_private))
    bounds = BodyBounds(settings.max_messages, settings.max_content_parts, settings.max_prompt_chars)
    routes = [
        *models_api.routes(router, auth, governance),
        *(json_endpoint(path, operation, auth.api_key, bounds) for path, operation in operations.items()),
        *audio_routes.routes(TranscriptionService(router, governance), auth, settings.max_audio_bytes),
        *batches.routes(auth, bounds),
        *usage_api.routes(ledger, auth, tiers),
        *admin.routes(store, cache, auth, tiers, organisations),
        *organisation_admin.routes(organisations, auth, ledger, AlertStore(database)),
        *health.routes(monitor),
        *status_routes.routes(status, auth),
        *cluster_metrics.routes(cluster_metrics.for_catalog(catalog)),
        *openapi.routes(),
        *console.routes(sessions, console.PendingLogins(database), organisations, settings),
    ]
    audit = AuditLog(database)
    app = Starlette(routes=[*audit_routes(audit, auth), *audited(routes, audit)],
                    exception_handlers=dict.fromkeys(EXCEPTION_TYPES, handle_exception),
                    middleware=[Middleware(metrics.MetricsMiddleware, metrics=recorder)],
                    lifespan=_lifespan(monitor, (reporter, batch_reporter), holdings, worker, watcher))
    audio_limit = audio_routes.body_limit(settings.max_body_bytes, settings.max_audio_bytes)
    return RequestContextMiddleware(app, max_body_bytes=settings.max_body_bytes,
                                    prefix_limits={audio_routes.PREFIX: audio_limit,
                                                   **batches.body_limits(settings.max_body_bytes)},
                                    body_timeout=settings.body_timeout_seconds)


def json_operations(router: ModelRouter, governance: Governance, limits: RequestLimits, gate: GuardGate,
                    images: ImagePolicy, background: bool = False) -> dict[str, JsonOperation]:
    """The operations that take a JSON body, by path: served over HTTP, and run from batch files (``background``:
    generation waits for the engines to be free of interactive requests)."""
    step = GenerationStep(router, governance, limits, gate, background)
    rerank = RerankService(router, governance, gate)
    return {
        "/v1/chat/completions": JsonOperation(ChatCompletionRequest, ChatService(step, images).create),
        "/v1/completions": JsonOperation(CompletionRequest, CompletionService(step).create),
        "/v1/responses": JsonOperation(ResponseCreateRequest, ResponsesService(step, images).create),
        "/v1/embeddings": JsonOperation(EmbeddingCreateRequest, EmbeddingService(router, governance).create),
        **{path: JsonOperation(RerankCreateRequest, rerank.create) for path in RERANK_PATHS},
    }


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=2048)
@serve.ingress()
class Ingress:
    def __init__(self, settings: Settings, catalog: Catalog, handles: dict[str, DeploymentHandle],
                 status_prober: DeploymentHandle | None = None) -> None:
        self._settings = settings
        self._catalog = catalog
        self._handles = handles
        self._status_prober = status_prober  # bound here so that Serve deploys it with the app

    def catalog_snapshot(self) -> dict[str, Any]:
        """The catalog this app runs, as data (``python -m serve_app.catalog diff`` compares against it)."""
        return self._catalog.model_dump(mode="json")

    def __serve_build_asgi_app__(self) -> ASGIApp:
        engines = {model_id: DeploymentEngine(handle) for model_id, handle in self._handles.items()}
        return build_asgi_app(self._settings, self._catalog, engines, ActorMeter(self._settings))


Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]
SHUTDOWN_FLUSH_SECONDS = 15.0  # within Serve's graceful shutdown (20 s by default)


def _lifespan(monitor: health.HealthMonitor, reporters: tuple[UsageReporter, ...], holdings: Holdings,
              worker: BatchWorker, watcher: BudgetWatcher) -> Lifespan:
    """The replica's life: models are checked in the background from its start (serve_app.health), its
    reservations at the metering actor kept alive (serve_app.governance.holdings), batches run
    (serve_app.batches.worker) and budget alerts fired (serve_app.organisations.alerts); when it stops, the usage
    records still queued go to the metering actor before it ends."""
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        monitor.start()
        holdings.start()
        worker.start()
        watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            await worker.stop()
            await monitor.stop()
            await holdings.stop()
            try:
                async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
                    await asyncio.gather(*(reporter.flush() for reporter in reporters))
            except TimeoutError:
                LOGGER.error("ingress stopping with %d usage records not sent to the metering actor",
                             sum(reporter.pending for reporter in reporters))

    return lifespan


def oidc_verifier(settings: Settings) -> OidcVerifier | None:
    if not settings.oidc_issuer or not settings.oidc_audience:  # the settings require both together
        return None
    return OidcVerifier(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url,
                        settings.oidc_admin_claim, settings.oidc_admin_value, settings.oidc_require_mfa,
                        settings.oidc_jwks_refresh_seconds)
