"""Organisations and their administrators, in-process: every admin route against an organisation's
administrator (a JWT of the organisation's own issuer), what one organisation's administrator can and cannot see
of another's, quotas held within the contract, and the contract's organisation-wide limits in admission."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from tests.conftest import ADMIN_TOKEN
from tests.support.oidc_issuer import TestIssuer, running_issuer
from tests.unit.test_admin_roles import admin_routes

OPERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Routes only operators may use: organisations' creation, incidents and maintenance.
OPERATOR_ONLY = re.compile(r"^(POST /admin/v1/organisations|.* /admin/v1/(incidents|maintenance).*)$")


@pytest.fixture
def issuer() -> Iterator[TestIssuer]:
    with running_issuer() as found:
        yield found


def organisation(client: TestClient, issuer: TestIssuer, org_id: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/admin/v1/organisations", headers=OPERATOR, json={
        "id": org_id, "name": org_id, "sso": {"issuer": issuer.url, "client_id": f"{org_id}-console"}, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


def admin_of(issuer: TestIssuer, org_id: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(role=None, audience=f'{org_id}-console', **claims)}"}


def test_every_admin_route_for_an_organisation_admin(app: ASGIApp, client: TestClient, issuer: TestIssuer) -> None:
    organisation(client, issuer, "org_a")
    headers = admin_of(issuer, "org_a")
    for method, path in admin_routes(app):
        status = client.request(method, path, headers=headers, json={}).status_code
        if OPERATOR_ONLY.match(f"{method} {path}"):
            assert status == 403, (method, path, status)
        else:
            assert status not in {401, 403, 500}, (method, path, status)


def test_an_organisation_admin_sees_only_their_organisation(client: TestClient, issuer: TestIssuer) -> None:
    organisation(client, issuer, "org_a")
    organisation(client, issuer, "org_b")
    a, b = admin_of(issuer, "org_a"), admin_of(issuer, "org_b")
    created = client.post("/admin/v1/keys", headers=a, json={"name": "a-app", "organisation": "org_b"})
    assert created.status_code == 404  # not their organisation: its existence is not confirmed
    created = client.post("/admin/v1/keys", headers=a, json={"name": "a-app"})
    assert created.status_code == 200 and created.json()["organisation_id"] == "org_a"
    key_id = created.json()["id"]
    assert [key["id"] for key in client.get("/admin/v1/keys", headers=b).json()["data"]] == []
    for method, path in [("GET", f"/admin/v1/keys/{key_id}"), ("DELETE", f"/admin/v1/keys/{key_id}"),
                         ("POST", f"/admin/v1/keys/{key_id}/rotate"), ("GET", "/admin/v1/organisations/org_a"),
                         ("GET", "/admin/v1/organisations/org_a/budget")]:
        assert client.request(method, path, headers=b).status_code == 404, (method, path)
    assert client.get("/admin/v1/keys?organisation=org_a", headers=b).status_code == 404
    assert [org["id"] for org in client.get("/admin/v1/organisations", headers=b).json()["data"]] == ["org_b"]
    seen_by_b = client.get("/admin/v1/audit", headers=b).json()["data"]
    assert [(entry["action"], entry["organisation_id"]) for entry in seen_by_b] == [
        ("POST /admin/v1/organisations", "org_b")]  # its creation by the operator, nothing of org_a
    audit = client.get("/admin/v1/audit", headers=a).json()["data"]
    assert [entry["action"] for entry in audit] == ["POST /admin/v1/keys", "POST /admin/v1/organisations"]
    assert audit[0]["organisation_id"] == "org_a" and "admin@example.org" in audit[0]["actor"]
    assert client.get("/admin/v1/me", headers=a).json()["role"] == "organisation_admin"
    # An organisation's administrators set its alerts, not its contract.
    assert client.patch("/admin/v1/organisations/org_a", headers=a,
                        json={"contract": {"monthly_spend_cap_usd": 1e9}}).status_code == 403
    assert client.patch("/admin/v1/organisations/org_a", headers=a,
                        json={"alerts": {"thresholds_percent": [10, 90]}}).json()["alerts"]["thresholds_percent"] \
        == [10, 90]


def test_organisation_sign_in_rules_hold_for_jwts(client: TestClient, issuer: TestIssuer) -> None:
    organisation(client, issuer, "org_mfa", sso={"issuer": issuer.url, "client_id": "org_mfa-console",
                                                 "require_mfa": True})
    without = client.get("/admin/v1/me", headers=admin_of(issuer, "org_mfa"))
    assert (without.status_code, without.json()["error"]["code"]) == (403, "mfa_required")
    assert client.get("/admin/v1/me", headers=admin_of(issuer, "org_mfa", amr=["pwd", "otp"])).status_code == 200
    other_audience = {"Authorization": f"Bearer {issuer.token(role=None, audience='someone-else')}"}
    assert client.get("/admin/v1/me", headers=other_audience).status_code == 401


def test_quotas_stay_within_the_contract(client: TestClient, issuer: TestIssuer) -> None:
    organisation(client, issuer, "org_c", contract={"tokens_per_minute": 1000, "allowed_models": ["fake-chat"]})
    a = admin_of(issuer, "org_c")
    above = client.post("/admin/v1/keys", headers=a, json={"name": "k", "quotas": {"tokens_per_minute": 5000}})
    assert (above.status_code, above.json()["error"]["param"]) == (400, "quotas.tokens_per_minute")
    outside = client.post("/admin/v1/keys", headers=a, json={"name": "k", "quotas": {"allowed_models": ["x"]}})
    assert (outside.status_code, outside.json()["error"]["code"]) == (400, "above_contract")
    tier = client.post("/admin/v1/keys", headers=a, json={"name": "k", "tier": "enterprise"})
    assert tier.status_code == 403


def test_the_contract_limits_the_organisation_as_a_whole(app: ASGIApp, client: TestClient,
                                                          issuer: TestIssuer) -> None:
    """Two keys of one organisation share its requests per minute; a key of another organisation does not."""
    organisation(client, issuer, "org_small", contract={"requests_per_minute": 3})
    secrets = [client.post("/admin/v1/keys", headers=OPERATOR, json={"name": f"k{index}",
                                                                       "organisation": "org_small"}).json()["key"]
               for index in range(2)]
    outsider = client.post("/admin/v1/keys", headers=OPERATOR, json={"name": "outsider"}).json()["key"]
    statuses = []
    for index in range(5):
        sdk = openai.OpenAI(api_key=secrets[index % 2], base_url="http://testserver/v1", http_client=client,
                            max_retries=0)
        try:
            sdk.embeddings.create(model="fake-embed", input="hello")
            statuses.append(200)
        except openai.RateLimitError as error:
            statuses.append(429)
            assert "your organisation" in str(error)
    assert statuses == [200, 200, 200, 429, 429]
    sdk = openai.OpenAI(api_key=outsider, base_url="http://testserver/v1", http_client=client, max_retries=0)
    assert sdk.embeddings.create(model="fake-embed", input="hello").data
    models = client.get("/v1/models", headers={"Authorization": f"Bearer {secrets[0]}"}).json()["data"]
    assert models  # the contract allows every model


def test_a_webhook_url_that_grows_once_normalised_is_refused_not_stored(client: TestClient) -> None:
    """Found by schemathesis: a URL under the limit when sent, over it once percent-encoded, was stored and then
    made every listing of organisations a 400."""
    long_url = "https://hooks.example.org/" + "é" * 900  # 900 characters, 5,400 once percent-encoded
    answer = client.post("/admin/v1/organisations", headers=OPERATOR, json={
        "id": "org_long", "name": "Long", "alerts": {"webhook_url": long_url}})
    assert (answer.status_code, answer.json()["error"]["param"]) == (400, "alerts.webhook_url")
    assert client.get("/admin/v1/organisations", headers=OPERATOR).status_code == 200
