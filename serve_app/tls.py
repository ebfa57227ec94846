"""TLS 1.3, and only TLS 1.3, on every HTTP port the platform opens (``LLMAAS_TLS_CERT`` / ``LLMAAS_TLS_KEY``).

Ray Serve serves HTTP from two places, both through uvicorn (``ray.serve._private.http_util.
start_asgi_http_server``) with the cluster's ``HTTPOptions``: the proxy on every node (port 8000), and,
in Serve's throughput-optimized mode (``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``, as ``make serve`` runs it),
each ingress replica's own "direct ingress" port (30000-31000 by default). With ``ssl_certfile`` and
``ssl_keyfile`` in the options, both serve HTTPS only: a plain HTTP request on either port fails.

Ray forwards neither a minimum TLS version nor an SSL context to uvicorn, and Python pins every new
``SSLContext`` to TLS 1.2 at least. The supported switch left, without patching Ray or uvicorn, is
OpenSSL's own configuration file: ``OPENSSL_CONF`` names ``openssl-tls13.cnf`` (next to this module) in
the environment of the platform's processes (the Serve controller, so the proxies it starts, and every
deployment's replicas), which turns the older protocol versions off in every context they create. A
TLS 1.2 client gets a ``protocol version`` alert during the handshake. The same holds for the
connections these processes open (the OIDC issuer, allowed image hosts, the status prober's own calls):
every TLS flow of the platform is TLS 1.3.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final

from serve_app.settings import Settings

OPENSSL_CONF_FILE: Final = Path(__file__).resolve().with_name("openssl-tls13.cnf")


def enabled(settings: Settings) -> bool:
    return settings.tls_cert is not None and settings.tls_key is not None


def http_options(settings: Settings) -> dict[str, str]:
    """Serve's ``HTTPOptions`` fields for the certificate: every proxy and direct-ingress port takes them."""
    if settings.tls_cert is None or settings.tls_key is None:
        return {}
    return {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}


class TLSNotAppliedError(RuntimeError):
    """TLS is configured, and the running Serve would not serve it: the platform does not start."""


def check_applied(settings: Settings, running_certfile: str | None, running_keyfile: str | None) -> None:
    """Fails closed: with a certificate configured, the Serve instance that will serve the platform must serve
    exactly it (an instance started earlier without it keeps serving plain HTTP whatever is asked now)."""
    if not enabled(settings):
        return
    expected = http_options(settings)
    if (running_certfile, running_keyfile) != (expected["ssl_certfile"], expected["ssl_keyfile"]):
        served = f"the certificate {running_certfile}" if running_certfile else "plain HTTP"
        raise TLSNotAppliedError(
            f"LLMAAS_TLS_CERT and LLMAAS_TLS_KEY are set, but the Serve instance already running on this Ray cluster "
            f"serves {served}, and Serve's HTTP options cannot change while it runs. Stop it (`serve shutdown -y`, "
            "or `ray stop` for a local cluster) and start the platform again.")


def server_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a process's OpenSSL speak TLS 1.3 only (read when the process starts)."""
    return {"OPENSSL_CONF": str(OPENSSL_CONF_FILE)} if enabled(settings) else {}


def probe_url(settings: Settings) -> str:
    """The URL the status prober calls: the platform speaks only HTTPS when TLS is on."""
    url = settings.status_probe_url or settings.own_url
    if enabled(settings) and url.startswith("http://"):
        return "https://" + url.removeprefix("http://")
    return url


def probe_verify(settings: Settings) -> ssl.SSLContext | bool:
    """How the prober checks the platform's certificate: the system's CAs plus the configured certificate
    itself (so a self-signed one works), host name checked, TLS 1.3 only."""
    if settings.tls_cert is None:
        return True
    context = ssl.create_default_context(cafile=str(settings.tls_cert))
    context.load_default_certs()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context
