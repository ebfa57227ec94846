"""Admin access by OIDC: JWTs from a test issuer (keys made here, JWKS served on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from serve_app.catalog import Catalog
from serve_app.governance.meter import MeterCore
from serve_app.ingress import build_asgi_app
from serve_app.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.oidc_issuer import AUDIENCE, TestIssuer, new_rsa_key, running_issuer


@pytest.fixture
def issuer() -> Iterator[TestIssuer]:
    with running_issuer() as running:
        yield running


def oidc_client(settings: Settings, catalog: Catalog, issuer: TestIssuer, **extra: object) -> TestClient:
    configured = settings.model_copy(update={"oidc_issuer": issuer.url, "oidc_audience": AUDIENCE, **extra})
    return TestClient(build_asgi_app(configured, catalog, {}, MeterCore(configured)))


def keys(client: TestClient, token: str) -> tuple[int, str | None]:
    response = client.get("/admin/v1/keys", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, None if response.status_code == 200 else response.json()["error"]["code"]


def test_a_jwt_from_the_issuer_with_the_admin_role_is_accepted(settings: Settings, catalog: Catalog,
                                                               issuer: TestIssuer) -> None:
    with oidc_client(settings, catalog, issuer) as client:
        assert keys(client, issuer.token()) == (200, None)
        assert keys(client, ADMIN_TOKEN) == (200, None)  # the bootstrap token keeps working


@pytest.mark.parametrize(("token_args", "expected"), [
    ({"expires_in": -120}, (401, "token_expired")),
    ({"key": "impostor"}, (401, "invalid_token")),
    ({"audience": "someone-else"}, (401, "invalid_token")),
    ({"role": "viewer"}, (403, "admin_role_required")),
    ({"role": None}, (403, "admin_role_required")),
])
def test_bad_tokens_are_refused(settings: Settings, catalog: Catalog, issuer: TestIssuer,
                                token_args: dict[str, object], expected: tuple[int, str]) -> None:
    if token_args.get("key") == "impostor":
        token_args = {**token_args, "key": new_rsa_key()}
    with oidc_client(settings, catalog, issuer) as client:
        assert keys(client, issuer.token(**token_args)) == expected  # type: ignore[arg-type]


def test_mfa_can_be_required(settings: Settings, catalog: Catalog, issuer: TestIssuer) -> None:
    with oidc_client(settings, catalog, issuer, oidc_require_mfa=True) as client:
        assert keys(client, issuer.token(amr=["pwd"])) == (403, "mfa_required")
        assert keys(client, issuer.token()) == (403, "mfa_required")
        assert keys(client, issuer.token(amr=["pwd", "otp"])) == (200, None)
        assert keys(client, issuer.token(amr=["mfa"])) == (200, None)


def test_an_unsigned_token_is_refused(settings: Settings, catalog: Catalog, issuer: TestIssuer) -> None:
    import jwt
    unsigned = jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": 2**40, "roles": ["llmaas-admin"]}, None,
                          algorithm="none")
    with oidc_client(settings, catalog, issuer) as client:
        assert keys(client, unsigned)[0] == 401


def test_a_key_the_issuer_removes_stops_verifying_within_the_refresh_time(settings: Settings, catalog: Catalog,
                                                                          issuer: TestIssuer) -> None:
    import time
    old_token = issuer.token()
    with oidc_client(settings, catalog, issuer, oidc_jwks_refresh_seconds=0.5) as client:
        assert keys(client, old_token) == (200, None)
        new_key = new_rsa_key()
        issuer.publish(("rotated", new_key))  # the old key is withdrawn (compromised, rotated out)
        time.sleep(0.7)
        assert keys(client, old_token) == (401, "invalid_token")
        assert keys(client, issuer.token(key=new_key, kid="rotated")) == (200, None)


def test_random_key_ids_do_not_make_the_platform_hammer_the_issuer(settings: Settings, catalog: Catalog,
                                                                   issuer: TestIssuer) -> None:
    with oidc_client(settings, catalog, issuer) as client:
        assert keys(client, issuer.token()) == (200, None)
        fetched = issuer.jwks_fetches
        for n in range(20):
            assert keys(client, issuer.token(key=new_rsa_key(), kid=f"random-{n}")) == (401, "invalid_token")
        assert issuer.jwks_fetches - fetched <= 1  # one refetch for an unknown id, then none for 30 s


def test_an_unreachable_issuer_is_not_asked_again_for_every_token(settings: Settings, catalog: Catalog) -> None:
    import time
    with running_issuer() as gone:
        token = gone.token()
        url = gone.url
    configured = settings.model_copy(update={"oidc_issuer": url, "oidc_audience": AUDIENCE})
    with TestClient(build_asgi_app(configured, catalog, {}, MeterCore(configured))) as client:
        assert keys(client, token) == (401, "invalid_token")
        started = time.monotonic()
        for _ in range(10):
            assert keys(client, token) == (401, "invalid_token")
        assert time.monotonic() - started < 5  # refused at once, not after a timeout each


def test_oidc_requires_an_audience(settings: Settings, issuer: TestIssuer) -> None:
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="LLMAAS_OIDC_AUDIENCE must be set"):
        Settings.model_validate({**settings.model_dump(), "oidc_issuer": issuer.url, "oidc_audience": None})
