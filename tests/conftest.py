from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from serve_app.catalog import Catalog
from serve_app.governance.meter import MeterCore
from serve_app.guardrails import PromptGuard
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.fakes import FakeEmbedder, FakeEngine, FakeTranscriber

ADMIN_TOKEN = "test-admin-token"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, max_body_bytes=64 * 1024,
                    max_audio_bytes=32 * 1024,
                    max_image_bytes=8 * 1024, image_url_allowed_hosts=frozenset({"images.example.org"}),
                    key_cache_seconds=0, health_timeout_seconds=1, health_refresh_seconds=0.02,
                    tiers=ROOT / "tiers.yaml",
                    metering_retry_seconds=0.01)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.model_validate({"models": [
        {"id": "fake-chat", "family": "Fake", "engine": "vllm", "source": "none",
         "capabilities": ["chat", "completions"], "context_length": 64},
        {"id": "fake-vision", "family": "Fake", "engine": "vllm", "source": "none",
         "capabilities": ["chat", "vision"], "context_length": 64},
        {"id": "fake-embed", "family": "Fake", "engine": "sentence-transformers", "source": "none",
         "capabilities": ["embeddings", "rerank"], "context_length": 64},
        {"id": "fake-whisper", "family": "Whisper", "engine": "faster-whisper", "source": "none",
         "capabilities": ["transcription"], "context_length": 448},
    ]})


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def vision() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def transcriber() -> FakeTranscriber:
    return FakeTranscriber()


@pytest.fixture
def meter(settings: Settings) -> MeterCore:
    """The metering actor's logic, in-process."""
    return MeterCore(settings)


@pytest.fixture(scope="session")
def prompt_guard() -> PromptGuard:
    """One prompt guard for every in-process ingress (immutable; it takes a moment to build)."""
    return PromptGuard()


@pytest.fixture
def app(settings: Settings, catalog: Catalog, engine: FakeEngine, embedder: FakeEmbedder, vision: FakeEngine,
        transcriber: FakeTranscriber, meter: MeterCore, prompt_guard: PromptGuard) -> ASGIApp:
    """The whole ingress in-process, every catalog model served by a stand-in engine."""
    engines = {"fake-chat": engine, "fake-embed": embedder, "fake-vision": vision, "fake-whisper": transcriber}
    return build_asgi_app(settings, catalog, engines, meter, guard=prompt_guard)


@pytest.fixture
def client(app: ASGIApp) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
async def async_sdk(app: ASGIApp) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official `openai` client, talking to the in-process ingress with a fresh key."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        created = await http.post("/admin/v1/keys", json={"name": "sdk"},
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        yield openai.AsyncOpenAI(api_key=created.json()["key"], base_url="http://test/v1", http_client=http,
                                 max_retries=0)


@pytest.fixture
def api_key(client: TestClient) -> str:
    response = client.post("/admin/v1/keys", json={"name": "tests"},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.text
    return str(response.json()["key"])


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
