"""A test OIDC issuer on loopback: an RSA key made in the test, its JWKS and discovery document served over
HTTP, and tokens signed with it (or with another key, to play an impostor)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "llmaas-admin-api"


@dataclass
class TestIssuer:
    url: str
    key: rsa.RSAPrivateKey
    jwks: dict[str, Any] = field(default_factory=dict)  # what the issuer publishes now (tests may change it)
    jwks_fetches: int = 0

    def publish(self, *keys: tuple[str, rsa.RSAPrivateKey]) -> None:
        """Publishes exactly these ``(kid, key)`` pairs (a key left out is removed, as in a rotation)."""
        self.jwks = {"keys": [{**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig",
                               "alg": "RS256"} for kid, key in keys]}

    def token(self, *, role: str | None = "llmaas-admin", expires_in: float = 300, amr: list[str] | None = None,
              audience: str = AUDIENCE, key: rsa.RSAPrivateKey | None = None, kid: str = "test-key") -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.url, "sub": "admin@example.org", "aud": audience, "iat": now,
                                  "exp": now + int(expires_in)}
        if role is not None:
            claims["roles"] = [role]
        if amr is not None:
            claims["amr"] = amr
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def running_issuer() -> Iterator[TestIssuer]:
    issuer: TestIssuer | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host, port = self.server.server_address[:2]
            base = f"http://{host}:{port}"
            if self.path == "/.well-known/openid-configuration":
                body = json.dumps({"issuer": base, "jwks_uri": base + "/jwks.json"}).encode()
            elif self.path == "/jwks.json" and issuer is not None:
                issuer.jwks_fetches += 1
                body = json.dumps(issuer.jwks).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    key = new_rsa_key()
    issuer = TestIssuer(url=f"http://127.0.0.1:{server.server_address[1]}", key=key)
    issuer.publish(("test-key", key))
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
