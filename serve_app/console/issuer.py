"""The console as an OpenID Connect relying party: authorization code flow with PKCE (S256), with Authlib.

The issuer's discovery document and keys are fetched over HTTPS (or loopback HTTP) and kept
``CACHE_SECONDS``; a token signed with a key not in the cached set fetches the set once more (the issuer may
have rotated). An ID token must be signed by one of the issuer's published keys with an asymmetric algorithm,
name this issuer (``iss``) and the client (``aud``), be unexpired, and carry the nonce of this sign-in.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import is_secure_transport
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cachetools import TTLCache
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from serve_app.console.logins import PendingLogin
from serve_app.console.policy import Policy, Refused

logger = logging.getLogger("serve_app")
CACHE_SECONDS = 300
TIMEOUT_SECONDS = 5.0
LEEWAY_SECONDS = 30
SCOPE = "openid email profile"
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class Issuers:
    def __init__(self) -> None:
        self._documents: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=256, ttl=CACHE_SECONDS)
        self._keys: TTLCache[str, KeySet] = TTLCache(maxsize=256, ttl=CACHE_SECONDS)

    async def authorization_url(self, policy: Policy, login: PendingLogin, state: str) -> str:
        document = await self._document(policy.issuer)
        query = {"response_type": "code", "client_id": policy.client_id, "redirect_uri": login.redirect_uri,
                 "scope": SCOPE, "state": state, "nonce": login.nonce,
                 "code_challenge": create_s256_code_challenge(login.code_verifier), "code_challenge_method": "S256"}
        endpoint = str(document["authorization_endpoint"])
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)

    async def claims(self, policy: Policy, login: PendingLogin, code: str) -> dict[str, Any]:
        """The validated ID token's claims for ``code``: :class:`Refused` if the issuer refuses the code or its
        ID token does not hold."""
        document = await self._document(policy.issuer)
        method = "client_secret_basic" if policy.client_secret else "none"
        async with AsyncOAuth2Client(client_id=policy.client_id, client_secret=policy.client_secret,
                                     token_endpoint_auth_method=method, redirect_uri=login.redirect_uri,
                                     timeout=TIMEOUT_SECONDS) as client:
            try:
                token = await client.fetch_token(str(document["token_endpoint"]), grant_type="authorization_code",
                                                 code=code, code_verifier=login.code_verifier)
            except OAuthError as error:
                logger.info("console sign-in: the issuer refused the code (%s)", error.error)
                raise Refused("code_refused", 400) from None
            except (httpx.HTTPError, ValueError):
                raise Refused("issuer_unreachable", 502) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise Refused("invalid_id_token", 400)
        return await self._validated(policy, login, str(document["jwks_uri"]), id_token)

    async def _validated(self, policy: Policy, login: PendingLogin, jwks_uri: str, id_token: str) -> dict[str, Any]:
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(jwks_uri), algorithms=ALGORITHMS)
            except (JoseError, ValueError):  # maybe a key the issuer published since: once more, fresh
                decoded = jwt.decode(id_token, await self._key_set(jwks_uri, fresh=True), algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(leeway=LEEWAY_SECONDS, iss={"essential": True, "value": policy.issuer},
                                  aud={"essential": True, "value": policy.client_id}, exp={"essential": True},
                                  sub={"essential": True},
                                  nonce={"essential": True, "value": login.nonce}).validate(decoded.claims)
        except (JoseError, ValueError) as error:
            logger.info("console sign-in: ID token refused (%s)", type(error).__name__)
            raise Refused("invalid_id_token", 400) from None
        return dict(decoded.claims)

    async def _document(self, issuer: str) -> dict[str, Any]:
        try:
            return self._documents[issuer]
        except KeyError:
            pass
        if not is_secure_transport(issuer):  # https, or http on loopback only
            raise Refused("insecure_issuer", 502)
        document = await self._get_json(issuer + "/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != issuer or not all(
                isinstance(document.get(name), str) for name in ("authorization_endpoint", "token_endpoint",
                                                                 "jwks_uri")):
            raise Refused("issuer_unreachable", 502)  # not this issuer's document (OpenID Discovery 4.3)
        self._documents[issuer] = document
        return document

    async def _key_set(self, jwks_uri: str, fresh: bool = False) -> KeySet:
        if not fresh and jwks_uri in self._keys:
            return self._keys[jwks_uri]
        try:
            keys = KeySet.import_key_set(await self._get_json(jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise Refused("issuer_unreachable", 502) from None
        self._keys[jwks_uri] = keys
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                response = await client.get(url)
                response.raise_for_status()
                found = response.json()
        except (httpx.HTTPError, ValueError):
            raise Refused("issuer_unreachable", 502) from None
        if not isinstance(found, dict):
            raise Refused("issuer_unreachable", 502)
        return found
