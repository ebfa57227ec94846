"""A real OpenID Connect provider run by the test, on loopback, built on Authlib's server classes.

Why not ``oidc-provider-mock`` (installed): its authorization-code grant registers no PKCE extension and keeps
no ``code_challenge`` with its codes, so a client that sends a wrong ``code_verifier`` (or none) still gets its
tokens; a console that forgot PKCE would pass. This one *requires* S256 PKCE on every authorization request
and checks the verifier, keeps codes single use, and puts each user's claims (``email``, ``amr``, ``acr``,
``groups`` ...) in the ID token.

Browsers pick the user on the authorization page (a form with one button per user, as an identity provider's
account chooser); tests may also POST ``sub`` there directly. Hooks play an attacker or a broken issuer:
``tamper`` overrides ID-token claims (``iss``, ``aud``, ``nonce``, ``exp``), ``rogue_signing`` signs with a key
the issuer does not publish.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import flask
import werkzeug.serving
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import rfc6749
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler

HOST = "localhost"  # the platform runs on 127.0.0.1: another site, as a real issuer is
SCOPES = {"openid", "email", "profile", "groups"}


@dataclass
class Client(rfc6749.ClientMixin):  # type: ignore[misc]
    client_id: str
    secret: str | None = None  # None: a public client (PKCE alone)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.startswith(("http://127.0.0.1:", "http://localhost:", "http://testserver/", "https://testserver/"))

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and client_secret == self.secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        return method == "none" if self.secret is None else method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class User:
    sub: str
    claims: dict[str, Any]

    def get_user_id(self) -> str:
        return self.sub


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    sub: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(time.time())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Provider:
    """What a test sees of the provider: its URL, users, clients, and the hooks."""

    url: str
    key: RSAKey
    rogue_key: RSAKey
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    tamper: dict[str, Any] = field(default_factory=dict)
    rogue_signing: bool = False
    token_requests: list[dict[str, str]] = field(default_factory=list)  # the forms the token endpoint got

    def user(self, sub: str, **claims: Any) -> None:
        """Adds or replaces a user; its claims go into its ID tokens as they are."""
        self.users[sub] = User(sub, claims)

    def client(self, client_id: str, secret: str | None = None) -> None:
        self.clients[client_id] = Client(client_id, secret)


class S256Required(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 on every request, public or confidential client."""

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise rfc6749.InvalidRequestError("PKCE (code_challenge with S256) is required.")
        super().validate_code_challenge(grant, redirect_uri)


def _flask_app(provider: Provider) -> flask.Flask:
    app = flask.Flask(__name__)

    class Grant(rfc6749.grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

        def save_authorization_code(self, code: str, request: Any) -> None:
            data = request.payload.data
            provider.nonces.add(data.get("nonce"))
            provider.codes[code] = Code(code, request.client.client_id, request.payload.redirect_uri,
                                        request.payload.scope, data.get("nonce"), request.user.sub,
                                        data.get("code_challenge"), data.get("code_challenge_method"))

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = provider.codes.get(code)
            return found if found and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> User | None:
            return provider.users.get(authorization_code.sub)

    class IdToken(OpenIDCode):  # type: ignore[misc]
        def exists_nonce(self, nonce: str, request: Any) -> bool:
            return nonce in provider.nonces

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return provider.rogue_key if provider.rogue_signing else provider.key

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_encode_header(self, client: Client) -> dict[str, str]:
            key = provider.rogue_key if provider.rogue_signing else provider.key
            return {"alg": "RS256", "kid": str(key.kid)}

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            now = int(time.time())
            return {"iss": provider.url, "aud": [client.client_id], "iat": now, "exp": now + 300}

        def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
            return {**user.claims, "sub": user.sub, **provider.tamper}

    def save_token(token: dict[str, Any], request: Any) -> None:
        return None

    server = AuthorizationServer(app, query_client=provider.clients.get, save_token=save_token)
    server.register_grant(Grant, [IdToken(require_nonce=True), S256Required(required=True)])

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        return {"issuer": provider.url, "authorization_endpoint": provider.url + "/authorize",
                "token_endpoint": provider.url + "/token", "jwks_uri": provider.url + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"]}

    @app.get("/jwks")
    def jwks() -> Any:
        return KeySet([provider.key]).as_dict(private=False)

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        if flask.request.method == "GET":
            try:
                server.get_consent_grant(end_user=None)
            except rfc6749.OAuth2Error as error:
                return f"<p id=error>{html.escape(str(error.error))}: {html.escape(str(error.description))}</p>", 400
            buttons = "".join(f'<button name="sub" value="{html.escape(sub)}">{html.escape(sub)}</button>'
                              for sub in provider.users)
            return f"<!doctype html><title>Test identity provider</title><h1>Choose an account</h1>" \
                   f"<form method=post>{buttons}</form>"
        user = provider.users.get(flask.request.form.get("sub", ""))
        return server.create_authorization_response(grant_user=user)

    @app.post("/token")
    def token() -> Any:
        provider.token_requests.append(dict(flask.request.form))
        return server.create_token_response()

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # the URLs hold codes and states: not for the test log


@contextmanager
def running_provider() -> Iterator[Provider]:
    """A provider on a free loopback port, named ``localhost`` (the platform is on 127.0.0.1)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "issuer-key"})
    rogue = RSAKey.generate_key(2048, parameters={"kid": "issuer-key"})  # same kid, other key: a forgery
    provider = Provider(url="", key=key, rogue_key=rogue)
    server = werkzeug.serving.make_server("127.0.0.1", 0, _flask_app(provider), threaded=True,
                                        request_handler=_QuietHandler)
    provider.url = f"http://{HOST}:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
