"""What ``/metrics`` exports, derived from the code: every family the platform records (the ingress's and the status
prober's) and Serve's gauges it relabels, written as Ray's exporters write them (``ray_`` prefix, Ray's own labels),
then passed through ``serve_app.cluster_metrics`` exactly as ``/metrics`` passes them. The result maps each sample
name that ``/metrics`` answers with to its label names."""

from __future__ import annotations

from functools import cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from serve_app.cluster_metrics import SERVE_FAMILIES, ClusterMetrics
from serve_app.metrics import FAMILIES, STATUS_FAMILIES

RAY_LABELS = ("Component", "NodeAddress", "SessionName", "WorkerId", "application", "deployment", "replica")
DEPLOYMENT = "model-m"


@cache
def exported() -> dict[str, frozenset[str]]:
    import asyncio

    text = _ray_exporter_text()

    async def scrape() -> tuple[list[str], int]:
        return [text], 0

    exposition = asyncio.run(ClusterMetrics({DEPLOYMENT: "m"}, scrape, max_age=0).exposition()).decode()
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in names.items()}


def _ray_exporter_text() -> str:
    """One sample of every family, as a node's Ray metrics agent would export it."""
    registry = CollectorRegistry()
    for family in (*FAMILIES, *STATUS_FAMILIES):
        labels = (*family.tags, *RAY_LABELS)
        values = dict.fromkeys(labels, "x") | {"deployment": DEPLOYMENT}
        name = "ray_" + family.name
        if family.kind == "counter":
            Counter(name, family.description, labels, registry=registry).labels(**values).inc()
        elif family.kind == "histogram":
            Histogram(name, family.description, labels, registry=registry,
                      buckets=family.buckets).labels(**values).observe(0.1)
        else:
            Gauge(name, family.description, labels, registry=registry).labels(**values).set(1)
    for name in SERVE_FAMILIES:
        Gauge(name, "Serve's", ("application", "deployment"), registry=registry).labels(
            application="default", deployment=DEPLOYMENT).set(1)
    return generate_latest(registry).decode()
