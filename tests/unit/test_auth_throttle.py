"""Guessing keys from one address: after a few dozen failures a minute, its unknown secrets are answered 429 in
OpenAI's shape without any lookup; other addresses, and keys already checked, are not held back."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from serve_app.auth import DEFAULT_FAILURES_PER_MINUTE
from serve_app.auth_throttle import FailedAuthThrottle
from serve_app.errors import RateLimitError
from serve_app.settings import Settings
from tests.unit.test_guard_policy import new_key


@pytest.fixture(params=[60.0, 0.0], ids=["keys-cached", "keys-not-cached"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"key_cache_seconds": request.param})


async def amodels(app: Any, address: str, secret: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                                 base_url="http://test") as http:
        return await http.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})


async def test_an_address_that_keeps_failing_is_throttled_and_only_it(client: TestClient, app: Any) -> None:
    _, auth = new_key(client)
    valid = auth["Authorization"].removeprefix("Bearer ")
    assert (await amodels(app, "203.0.113.9", valid)).status_code == 200  # checked once: known to be a real key
    statuses = [(await amodels(app, "203.0.113.9", "sk-" + secrets.token_urlsafe(24))).status_code
                for _ in range(DEFAULT_FAILURES_PER_MINUTE + 5)]
    assert statuses[:DEFAULT_FAILURES_PER_MINUTE] == [401] * DEFAULT_FAILURES_PER_MINUTE
    assert statuses[DEFAULT_FAILURES_PER_MINUTE:] == [429] * 5
    refused = await amodels(app, "203.0.113.9", "sk-" + secrets.token_urlsafe(24))
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "too_many_failed_authentications")
    assert refused.headers["retry-after"] == "60"
    assert (await amodels(app, "203.0.113.9", valid)).status_code == 200  # a real key still passes, cached or not
    assert (await amodels(app, "198.51.100.7", "sk-" + secrets.token_urlsafe(24))).status_code == 401


def test_the_throttle_counts_per_address() -> None:
    throttle = FailedAuthThrottle(2)
    for _ in range(2):
        throttle.check("a")
        throttle.failed("a")
    with pytest.raises(RateLimitError):
        throttle.check("a")
    throttle.check("b")
