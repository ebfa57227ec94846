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
