"""Console sign-in against a real OpenID Connect provider run by the test (tests/support/oidc_provider.py):
authorization code with PKCE (S256), state single use and bound to the browser, the ID token checked
(signature by the issuer's keys, issuer, audience, nonce), and each organisation's rules (e-mail domains,
group, MFA), refused with a page the person understands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import Engine, select
from starlette.requests import Request
from starlette.testclient import TestClient

from serve_app import console
from serve_app.console.sessions import CONSOLE_SESSIONS, is_https
from serve_app.organisations.model import CreateOrganisation
from serve_app.organisations.store import OrganisationStore
from serve_app.settings import Settings
from tests.support.console_app import choose_account, console_app, database, sign_in, start_sign_in
from tests.support.oidc_provider import Provider, running_provider

ACME = {"organisation": "org_acme"}
MFA = ["pwd", "otp"]


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        running.client("acme-console")
        running.client("beta-console", secret="beta-secret")
        running.client("operator-console")
        yield running


@pytest.fixture(autouse=True)
def fresh_provider(provider: Provider) -> None:
    provider.tamper.clear()
    provider.rogue_signing = False
    provider.token_requests.clear()
    provider.user("alice", email="alice@acme.test", email_verified=True, amr=MFA, groups=["llm-admins"])


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return database(tmp_path)


@pytest.fixture
def client(engine: Engine, provider: Provider, tmp_path: Path) -> Iterator[TestClient]:
    organisations = OrganisationStore(engine)
    organisations.create(CreateOrganisation.model_validate({
        "id": "org_acme", "name": "Acme", "sso": {
            "issuer": provider.url, "client_id": "acme-console", "allowed_email_domains": ["acme.test"],
            "group_claim": "groups", "group_value": "llm-admins", "require_mfa": True}}))
    organisations.create(CreateOrganisation.model_validate({
        "id": "org_beta", "name": "Beta", "sso": {"issuer": provider.url, "client_id": "beta-console",
                                                  "client_secret": "beta-secret"}}))
    organisations.create(CreateOrganisation(id="org_nosso", name="No SSO"))
    settings = Settings(data_dir=tmp_path / "data", admin_token="t", oidc_issuer=provider.url,
                        oidc_audience="llmaas-admin-api").model_copy(update={"console_client_id": "operator-console"})
    with TestClient(console_app(engine, settings, console.ConsoleSessions(engine))) as test_client:
        yield test_client


def refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status
    assert f'data-reason="{reason}"' in response.text and "Traceback" not in response.text
    assert "llmaas_console=" not in response.headers.get("set-cookie", "")


def test_pkce_round_trip_signs_an_organisation_admin_in(client: TestClient, provider: Provider) -> None:
    authorization = start_sign_in(client, ACME)
    query = parse_qs(urlparse(authorization).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["acme-console"]
    assert query["redirect_uri"] == ["http://testserver/console/callback"] and query["nonce"] and query["state"]
    response = client.get(choose_account(authorization, "alice"), follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == "/console"
    (exchange,) = provider.token_requests
    assert create_s256_code_challenge(exchange["code_verifier"]) == query["code_challenge"][0]
    assert "client_secret" not in exchange  # a public client: PKCE alone
    session = client.get("/console/session").json()
    assert session["role"] == "organisation_admin" and session["organisation_id"] == "org_acme"
    assert session["who"] == f"{provider.url} alice@acme.test" and len(session["csrf_token"]) >= 32
    assert client.get("/admin/v1/probe").json()["via"] == "session"


def test_session_cookie_is_httponly_strict_and_secure_over_https(client: TestClient, provider: Provider) -> None:
    cookie = sign_in(client, provider, "alice", ACME).headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    client.base_url = "https://testserver"  # type: ignore[assignment]
    client.cookies.clear()
    over_tls = sign_in(client, provider, "alice", ACME)
    assert over_tls.status_code == 303
    assert all("Secure" in cookie for cookie in over_tls.headers.get_list("set-cookie"))


def test_a_proxy_that_terminated_tls_counts_as_https() -> None:
    def request(headers: list[tuple[bytes, bytes]]) -> Request:
        return Request({"type": "http", "scheme": "http", "headers": headers, "path": "/", "server": ("x", 80)})

    assert is_https(request([(b"x-forwarded-proto", b"https")])) and not is_https(request([]))


def test_a_confidential_client_sends_its_secret(client: TestClient, provider: Provider) -> None:
    provider.user("bob", email="bob@beta.test")
    assert sign_in(client, provider, "bob", {"organisation": "org_beta"}).status_code == 303
    assert client.get("/console/session").json()["organisation_id"] == "org_beta"


def test_a_forged_state_is_refused(client: TestClient) -> None:
    refused(client.get("/console/callback", params={"code": "x", "state": "forged"}), 400, "state_invalid")
    refused(client.get("/console/callback"), 400, "bad_request")


def test_a_replayed_callback_is_refused(client: TestClient, provider: Provider) -> None:
    callback = choose_account(start_sign_in(client, ACME), "alice")
    assert client.get(callback, follow_redirects=False).status_code == 303
    client.cookies.clear()
    refused(client.get(callback, follow_redirects=False), 400, "state_invalid")


def test_a_callback_finished_in_another_browser_is_refused(client: TestClient, engine: Engine,
                                                           provider: Provider) -> None:
    callback = choose_account(start_sign_in(client, ACME), "alice")  # the attacker's own sign-in...
    client.cookies.clear()  # ...pushed to the victim's browser, which never started it
    refused(client.get(callback, follow_redirects=False), 400, "state_invalid")


def test_an_identity_provider_error_is_refused(client: TestClient) -> None:
    state = parse_qs(urlparse(start_sign_in(client, ACME)).query)["state"][0]
    refused(client.get("/console/callback", params={"error": "access_denied", "state": state}), 400,
            "provider_error")


@pytest.mark.parametrize("tamper", [{"nonce": "another-sign-in"}, {"iss": "https://evil.example"},
                                    {"aud": ["another-client"]}, {"exp": 1_000}])
def test_an_id_token_that_does_not_hold_is_refused(client: TestClient, provider: Provider,
                                                   tamper: dict[str, object]) -> None:
    provider.tamper.update(tamper)
    refused(sign_in(client, provider, "alice", ACME), 400, "invalid_id_token")


def test_an_id_token_signed_by_another_key_is_refused(client: TestClient, provider: Provider) -> None:
    provider.rogue_signing = True
    refused(sign_in(client, provider, "alice", ACME), 400, "invalid_id_token")


def test_missing_mfa_is_refused_when_the_organisation_requires_it(client: TestClient, provider: Provider) -> None:
    provider.user("alice", email="alice@acme.test", amr=["pwd"], groups=["llm-admins"])
    response = sign_in(client, provider, "alice", ACME, **{"accept-language": "fr-FR,fr;q=0.9,en;q=0.5"})
    refused(response, 403, "mfa_required")
    assert "authentification multifacteur" in response.text and 'lang="fr"' in response.text
    provider.user("alice", email="alice@acme.test", acr="http://schemas.openid.net/pape/policies/2007/06/multi-factor",
                  groups=["llm-admins"])
    assert sign_in(client, provider, "alice", ACME).status_code == 303


@pytest.mark.parametrize("claims", [{"email": "mallory@evil.test"},
                                    {"email": "alice@acme.test", "email_verified": False}, {}])
def test_an_email_outside_the_allowed_domains_is_refused(client: TestClient, provider: Provider,
                                                         claims: dict[str, object]) -> None:
    provider.user("mallory", **claims, amr=MFA, groups=["llm-admins"])
    response = sign_in(client, provider, "mallory", ACME, **{"accept-language": "en"})
    refused(response, 403, "email_domain")
    assert "domains your organisation allows" in response.text


def test_a_user_outside_the_group_is_refused(client: TestClient, provider: Provider) -> None:
    provider.user("carol", email="carol@acme.test", amr=MFA, groups=["sales"])
    refused(sign_in(client, provider, "carol", ACME), 403, "not_in_group")


def test_operators_need_the_admin_role(client: TestClient, provider: Provider) -> None:
    provider.user("root", email="root@operator.test", roles=["llmaas-admin"])
    assert sign_in(client, provider, "root", {"operator": "1"}).status_code == 303
    session = client.get("/console/session").json()
    assert session["role"] == "operator" and session["organisation_id"] is None
    client.cookies.clear()
    provider.user("dave", email="dave@operator.test", roles=["viewer"])
    refused(sign_in(client, provider, "dave", {"operator": "1"}), 403, "not_operator")


def test_organisations_without_sso_or_unknown_are_refused_before_the_issuer(client: TestClient) -> None:
    refused(client.get("/console/login", params={"organisation": "org_nope"}), 404, "unknown_organisation")
    refused(client.get("/console/login", params={"organisation": "org_nosso"}), 404, "no_sso")
    refused(client.get("/console/login"), 400, "bad_request")


def test_the_session_row_holds_a_hash_of_the_cookie(client: TestClient, engine: Engine, provider: Provider) -> None:
    sign_in(client, provider, "alice", ACME)
    value = client.cookies["llmaas_console"]
    with engine.connect() as db:
        (row,) = db.execute(select(CONSOLE_SESSIONS)).all()
    assert row.id_hash != value and value not in str(tuple(row))
