"""Ray Serve's own settings the platform runs with (environment variables Serve reads in each process).

Applied by :func:`use_serve_env` wherever the platform starts Ray itself (``serve run
serve_app.app:build_app``, ``catalog apply``, the tests, the benchmarks) before Ray starts, so a local
cluster inherits them; ``cluster.yaml`` sets them in its ``ray start`` commands. A value already in the
environment wins: operators can set any of them otherwise.

- ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``: Serve's throughput profile. The ingress replica serves HTTP on its
  own port too (direct ingress, no proxy hop), user code runs on the replica's event loop, handles talk
  gRPC, access logs are buffered. Measured: TTFT added over bare vLLM 23 -> 17 ms, streaming throughput
  0.84 -> 0.88 of bare vLLM (benchmarks/README.md).
- ``RAY_SERVE_CONTROL_LOOP_INTERVAL_S=0.5``: the Serve controller's loop runs every 0.5 s instead of every
  0.1 s. The platform needs nothing from it faster (health checks every few seconds, autoscaling over
  tens of seconds), and at 0.1 s the controller and the GCS calls it makes took 0.05 of a core even at
  rest, taken from the engines on a small machine (measured at rest: controller 0.033 -> 0.015 cores,
  GCS 0.015 -> 0.008).

One setting is not the operator's to change, and is always set (here, in every deployment's environment, and
in ``cluster.yaml``): ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` runs ``serve_app.request_ids`` in Serve's
HTTP servers, ahead of Serve's own request-id middleware, so that a client's ``x-request-id`` never becomes the
id the platform meters a request by.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SERVE_ENV: Final[Mapping[str, str]] = MappingProxyType({
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
})


REQUIRED_SERVE_ENV: Final[Mapping[str, str]] = MappingProxyType({
    "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": "serve_app.request_ids:serve_middlewares",
})


def use_serve_env() -> None:
    """Sets Serve's settings in this process's environment (before Ray starts), keeping the operator's values,
    except for the required ones."""
    for name, value in SERVE_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.update(REQUIRED_SERVE_ENV)
