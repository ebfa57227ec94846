"""A small platform served over TLS as `make serve` serves it, for tests/integration/test_tls.py.

    python -m tests.support.tls_platform CONFIG.json

Runs in a process of its own with a Ray cluster of its own (the session's platform serves plain HTTP and
Serve's HTTP options are fixed when Serve starts): ``start_serve`` (what ``build_app`` calls) starts Ray
and Serve with the certificate, then the app is deployed with one model, the embeddings one (the
lightest), so that the status prober has a target and probes it over TLS. It writes the config's
``ready_file`` once deployed; SIGTERM shuts it all down.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import ray
from ray import serve

from serve_app.app import build_app_from, start_serve
from serve_app.catalog import load_catalog
from serve_app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MODEL = "all-MiniLM-L6-v2"


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    settings = Settings(data_dir=Path(config["data_dir"]), models_dir=Path(config["models_dir"]),
                        admin_token=config["admin_token"], tls_cert=Path(config["cert"]),
                        tls_key=Path(config["key"]), http_port=config["port"],
                        status_probe_seconds=5, status_degraded_ttfb_ms=60_000,
                        status_degraded_tokens_per_second=0).resolved()
    catalog = load_catalog(ROOT / "catalog.cpu.yaml")
    catalog = catalog.model_copy(update={"models": [entry for entry in catalog.models if entry.id == MODEL]})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    start_serve(settings)
    try:
        serve.run(build_app_from(settings, catalog), name="llmaas", route_prefix="/", blocking=False)
        Path(config["ready_file"]).write_text("deployed")
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
