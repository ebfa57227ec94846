"""What `make serve` prints once the platform is healthy: where the API, its reference and the status page are,
and how to get a first key.

    python -m serve_app.welcome        # started by `make serve` beside `serve run`; ends with it

It polls ``/health`` on the platform's own address (``LLMAAS_HTTP_HOST`` / ``LLMAAS_HTTP_PORT``, HTTPS with TLS)
and prints once. A platform that is still not healthy after a few minutes gets one line naming the models
that are not up, so that a first run never just waits in silence.
"""

from __future__ import annotations

import os
import sys
import time

import httpx

from serve_app import tls
from serve_app.settings import Settings

POLL_SECONDS = 2.0
SLOW_START_SECONDS = 300.0  # a first run installs nothing here: `make serve` only starts after its setup
GIVE_UP_SECONDS = 3600.0


def banner(settings: Settings) -> str:
    url = settings.own_url
    key_hint = ("make key NAME=my-app" if settings.admin_token
                else "set LLMAAS_ADMIN_TOKEN, restart `make serve`, then: make key NAME=my-app")
    return "\n".join([
        "",
        f"llmaas is up: every model of {settings.catalog.name} answers.",
        f"  OpenAI-compatible API  {url}/v1",
        f"  API reference          {url}/docs",
        f"  Status page            {url}/status",
        f"  A first API key        {key_hint}",
        "",
    ])


def wait_and_greet(settings: Settings, parent: int) -> int:
    started = time.monotonic()
    warned = False
    verify = tls.probe_verify(settings)
    while os.getppid() == parent and time.monotonic() - started < GIVE_UP_SECONDS:
        try:
            answer = httpx.get(f"{settings.own_url}/health", timeout=5, verify=verify)
        except httpx.HTTPError:
            answer = None
        if answer is not None and answer.status_code == 200:
            print(banner(settings), flush=True)
            return 0
        if not warned and time.monotonic() - started > SLOW_START_SECONDS:
            warned = True
            waiting = answer.json().get("unavailable") if answer is not None and answer.status_code == 503 else None
            print(f"llmaas is not healthy yet after {SLOW_START_SECONDS:.0f} s"
                  + (f"; models not up: {', '.join(waiting)}" if waiting else f"; {settings.own_url} does not answer")
                  + ". The log above says why.", file=sys.stderr, flush=True)
        time.sleep(POLL_SECONDS)
    return 1


def main() -> int:
    try:
        return wait_and_greet(Settings.from_env().resolved(), os.getppid())
    except KeyboardInterrupt:  # Ctrl-C in `make serve` reaches its whole process group
        return 130


if __name__ == "__main__":
    sys.exit(main())
