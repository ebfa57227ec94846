"""The Serve config (Ray Serve's ``ServeDeploySchema``) that runs a catalog, for KubeRay's ``RayService``:

    python -m serve_app.catalog serve-config catalog.gpu.yaml --tls-cert ... --tls-key ... \\
        --into deploy/kubernetes/rayservice.yaml

The catalog travels inside the config, as the application's ``args`` (``serve_app.app:build_app`` takes a
catalog document there as well as a file name): the ``RayService`` is then the whole truth of what runs, a
catalog change is a change of the manifest (KubeRay submits it, and Serve redeploys only the deployments whose
configuration changed), and the image holds code only. ``--into`` rewrites the ``serveConfigV2`` block of a
manifest in place and leaves the rest of the file, comments included, as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml

from serve_app.catalog.schema import Catalog, catalog_document

IMPORT_PATH = "serve_app.app:build_app"
HTTP_PORT = 8000
_BLOCK_KEY = re.compile(r"^(?P<indent> *)serveConfigV2: \|\n", re.MULTILINE)


def serve_config(document: dict[str, Any], app_name: str = "default", tls_cert: str | None = None,
                 tls_key: str | None = None) -> dict[str, Any]:
    """The config that deploys ``document`` (a catalog, validated here) as one application on every node's proxy."""
    Catalog.model_validate(document)
    http: dict[str, Any] = {"host": "0.0.0.0", "port": HTTP_PORT}
    if tls_cert and tls_key:
        http |= {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key}
    return {
        "proxy_location": "EveryNode",
        "http_options": http,
        "applications": [{"name": app_name, "route_prefix": "/", "import_path": IMPORT_PATH,
                          "args": {"catalog": _plain(document)}}],
    }


def serve_config_for(path: Path, app_name: str = "default", tls_cert: str | None = None,
                     tls_key: str | None = None) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return serve_config(catalog_document(yaml.safe_load(handle)), app_name, tls_cert, tls_key)


def to_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)


def into_manifest(manifest: str, config: dict[str, Any]) -> str:
    """``manifest`` with the text of its ``serveConfigV2: |`` block replaced by ``config``."""
    match = _BLOCK_KEY.search(manifest)
    if match is None:
        raise ValueError("the manifest has no `serveConfigV2: |` block")
    indent = " " * (len(match["indent"]) + 2)
    lines = manifest[match.end():].split("\n")
    kept = 0  # the block runs while lines are blank or indented deeper than its key
    while kept < len(lines) and (not lines[kept].strip() or lines[kept].startswith(indent)):
        kept += 1
    while kept and not lines[kept - 1].strip():  # trailing blank lines belong to what follows
        kept -= 1
    block = [indent + line if line else line for line in to_yaml(config).rstrip("\n").split("\n")]
    return manifest[:match.end()] + "\n".join([*block, *lines[kept:]])


def _plain(value: Any) -> Any:
    """The document with dates as ISO strings: the config goes through KubeRay as JSON."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
