"""Nothing phones home: the usage statistics and telemetry of Ray, vLLM and the model hub libraries are off.

The platform sets these itself, wherever a process that could report starts:

- in the Serve driver (``serve run serve_app.app:build_app``) before it starts Ray, so that a local
  cluster (GCS, dashboard, raylet, every worker) inherits them (see ``serve_app.app.start_serve``);
- in every deployment's ``runtime_env`` ``env_vars`` (model replicas and their engine subprocesses, the
  ingress, the status prober), so that replicas have them on any cluster, also one started by
  ``ray start`` or reached with ``ray job submit``;
- in ``cluster.yaml``'s ``ray start`` commands (with ``--disable-usage-stats``) for the cluster's own
  processes.

A catalog entry's ``engine_env`` cannot turn them back on: these win over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from serve_app import tls
from serve_app.ray_env import REQUIRED_SERVE_ENV
from serve_app.settings import Settings

NO_TELEMETRY_ENV: Final[Mapping[str, str]] = MappingProxyType({
    "RAY_USAGE_STATS_ENABLED": "0",     # Ray's usage statistics (sent by the dashboard of the head node)
    "VLLM_NO_USAGE_STATS": "1",         # vLLM's usage report at engine start
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",                # the cross-tool convention (vLLM, Hugging Face, ...)
    "HF_HUB_DISABLE_TELEMETRY": "1",    # huggingface_hub's telemetry pings
    "HF_HUB_OFFLINE": "1",              # no model hub call at run time: models are local or pre-fetched
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
})


def platform_env(settings: Settings) -> dict[str, str]:
    """The environment every platform process gets: telemetry off, the platform's own request ids in Serve's
    HTTP servers (``serve_app.request_ids``), and TLS 1.3 only when TLS is on."""
    return {**NO_TELEMETRY_ENV, **REQUIRED_SERVE_ENV, **tls.server_env(settings)}
