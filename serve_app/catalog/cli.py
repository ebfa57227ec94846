"""The operator's catalog commands, meant to run on the cluster as a Ray job:

    ray job submit --working-dir . -- python -m serve_app.catalog apply catalog.gpu.yaml

``validate FILE`` checks a catalog (no cluster needed); ``diff FILE`` prints what would change against the
running app; ``apply FILE`` redeploys the app in place: Serve updates only the deployments whose
configuration changed, starting new replicas before draining old ones, so in-flight requests finish.
``serve-config FILE`` prints the Serve config that runs the catalog (KubeRay's ``serveConfigV2``; ``--into
MANIFEST`` writes it into a RayService manifest instead; no cluster needed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from serve_app.catalog import serve_config
from serve_app.catalog.diff import diff_catalogs
from serve_app.catalog.schema import Catalog, load_catalog
from serve_app.settings import Settings

APPLY_TIMEOUT_S = 900


def _load(path: Path) -> Catalog | None:
    try:
        return load_catalog(path)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in error["loc"])
            print(f"{path}: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
    except (OSError, yaml.YAMLError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
    return None


def _proposed(catalog: Catalog) -> dict[str, Any]:
    return catalog.with_sources_under(Settings.from_env().resolved().models_dir).model_dump(mode="json")


def _running(app_name: str) -> dict[str, Any]:
    """The running app's catalog; empty when the app does not run yet (then everything is added)."""
    from ray import serve

    if app_name not in serve.status().applications:
        return {}

    async def snapshot() -> dict[str, Any]:  # handles need an event loop in Serve's throughput mode
        result: dict[str, Any] = await serve.get_app_handle(app_name).catalog_snapshot.remote()
        return result

    return asyncio.run(snapshot())


def validate(path: Path) -> int:
    catalog = _load(path)
    if catalog is None:
        return 1
    print(f"{path}: valid, {len(catalog.models)} models")
    return 0


def _print_diff(catalog: Catalog, app_name: str) -> None:
    _connect()
    lines = diff_catalogs(_running(app_name), _proposed(catalog))
    print("\n".join(lines) if lines else "no change")


def diff(path: Path, app_name: str) -> int:
    catalog = _load(path)
    if catalog is None:
        return 1
    _print_diff(catalog, app_name)
    return 0


def apply(path: Path, app_name: str) -> int:
    catalog = _load(path)
    if catalog is None:
        return 1
    _print_diff(catalog, app_name)
    from ray import serve

    from serve_app.app import build_app_from, start_serve

    settings = Settings.from_env().resolved()
    start_serve(settings)  # TLS: Serve's HTTP options, when this apply is the one that starts Serve
    serve.run(build_app_from(settings, catalog), name=app_name, route_prefix="/", blocking=False)
    return _wait_running(app_name)


def write_serve_config(path: Path, app_name: str, args: argparse.Namespace) -> int:
    if _load(path) is None:
        return 1
    from ray.serve.schema import ServeDeploySchema

    config = serve_config.serve_config_for(path, app_name, args.tls_cert, args.tls_key)
    ServeDeploySchema.model_validate(config)
    if args.into is None:
        print(serve_config.to_yaml(config), end="")
        return 0
    args.into.write_text(serve_config.into_manifest(args.into.read_text(encoding="utf-8"), config), encoding="utf-8")
    print(f"{args.into}: serveConfigV2 now runs {path}")
    return 0


def _wait_running(app_name: str) -> int:
    from ray import serve

    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        status = serve.status().applications[app_name].status
        if status == "RUNNING":
            print(f"applied: {app_name} is running")
            return 0
        if status == "DEPLOY_FAILED":
            print(f"apply failed: {serve.status().applications[app_name].message}", file=sys.stderr)
            return 1
        time.sleep(2)
    print(f"apply timed out after {APPLY_TIMEOUT_S} s", file=sys.stderr)
    return 1


def _connect() -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address="auto", log_to_driver=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve_app.catalog", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["validate", "diff", "apply", "serve-config"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--app", default="default", help="the Serve application name (serve run names it default)")
    parser.add_argument("--tls-cert", help="serve-config: the certificate's path on every node (Serve serves TLS)")
    parser.add_argument("--tls-key", help="serve-config: the private key's path on every node")
    parser.add_argument("--into", type=Path, help="serve-config: the RayService manifest whose serveConfigV2 to set")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return validate(args.file)
    if args.command == "serve-config":
        return write_serve_config(args.file, args.app, args)
    return diff(args.file, args.app) if args.command == "diff" else apply(args.file, args.app)
