"""``/metrics``: the platform's metrics, cluster-wide, from every node's exporter.

There may be many ingress replicas on many nodes, and a registry per replica would show only the replica that
happens to answer. Ray's metrics agent on each node exports every process's metrics (recorded by
``serve_app.metrics`` and by the status prober); ``/metrics`` fetches the exporters of all alive nodes, keeps the
``llmaas_*`` families (plus Serve's queue and replica-health gauges, relabelled by model), and sums away what tells
replicas and workers apart, so any replica answers with the same cluster-wide figures. Ray exports on an interval
(``metrics_report_interval_ms``, 10 s by default), so the figures lag that much. A node whose exporter does not
answer is counted in ``llmaas_metrics_unreachable_nodes``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serve_app.catalog import Catalog
from serve_app.coalesced import Coalesced
from serve_app.metrics import FAMILIES, STATUS_FAMILIES, Family

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_SECONDS = 5.0
SCRAPE_MAX_AGE_SECONDS = 2.0  # Prometheus scrapes every 15 s or more: a fresher answer is not needed
# Serve's own gauges, per deployment, shown per model: (our name, description).
SERVE_FAMILIES = {
    "ray_serve_deployment_queued_queries": (
        "llmaas_queued_requests", "Requests waiting in Serve's queues for a replica of the model."),
    "ray_serve_deployment_replica_healthy": ("llmaas_healthy_replicas", "Healthy replicas of the model."),
}
UNREACHABLE = Family("llmaas_metrics_unreachable_nodes", "gauge",
                     "Nodes whose metrics exporter did not answer this scrape (their series are missing).", ())


def for_catalog(catalog: Catalog) -> ClusterMetrics:
    """``/metrics`` for the app that serves ``catalog``, from the Ray nodes' exporters."""
    return ClusterMetrics({entry.deployment_name: entry.id for entry in catalog.models}, scrape_ray_nodes)


Scrape = Callable[[], Awaitable[tuple[list[str], int]]]


async def scrape_ray_nodes() -> tuple[list[str], int]:
    """The exporters' texts of every alive Ray node, and how many did not answer."""
    import ray

    if not ray.is_initialized():
        return [], 0
    nodes = await asyncio.to_thread(ray.nodes)
    urls = [f"http://{_host(node['NodeManagerAddress'])}:{node['MetricsExportPort']}/metrics"
            for node in nodes if node.get("Alive") and node.get("MetricsExportPort")]
    async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_SECONDS) as client:
        answers = await asyncio.gather(*(client.get(url) for url in urls), return_exceptions=True)
    texts = [a.text for a in answers if isinstance(a, httpx.Response) and a.status_code == 200]
    return texts, len(urls) - len(texts)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def aggregate(texts: Iterable[str], deployments: Mapping[str, str], unreachable: int = 0) -> list[Metric]:
    """Our families from the exporters' texts, summed over everything but their own labels."""
    families = (*FAMILIES, *STATUS_FAMILIES)
    ours = {"ray_" + family.name: family for family in families}
    out = {family.name: Metric(family.name, family.description, family.kind) for family in families}
    out.update({name: Metric(name, description, "gauge") for name, description in SERVE_FAMILIES.values()})
    sums: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
    for text in texts:
        for parsed in text_string_to_metric_families(_relevant_lines(text, (*ours, *SERVE_FAMILIES))):
            for sample in parsed.samples:
                target = _target(parsed.name, sample, ours, deployments)
                if target is not None:
                    key = (target[0], target[1], tuple(sorted(target[2].items())))
                    sums[key] = sums.get(key, 0.0) + sample.value
    for (family, name, labels), value in sorted(sums.items(), key=_sample_order):
        out[family].add_sample(name, dict(labels), value)
    gauge = Metric(UNREACHABLE.name, UNREACHABLE.description, "gauge")
    gauge.add_sample(UNREACHABLE.name, {}, float(unreachable))
    return [*out.values(), gauge]


def _target(family: str, sample: Sample, ours: Mapping[str, Family],
            deployments: Mapping[str, str]) -> tuple[str, str, dict[str, str]] | None:
    """(our family, our sample name, our labels) for a sample worth keeping, else None."""
    if family in ours:
        if sample.name.endswith("_created"):
            return None
        keep = (*ours[family].tags, "le")
        labels = {key: value for key, value in sample.labels.items() if key in keep}
        return ours[family].name, sample.name.removeprefix("ray_"), labels
    model = deployments.get(sample.labels.get("deployment", ""))
    if family in SERVE_FAMILIES and model is not None:
        name = SERVE_FAMILIES[family][0]
        return name, name, {"model": model}
    return None


def _relevant_lines(text: str, prefixes: tuple[str, ...]) -> str:
    """Only the lines of our families: Ray exports hundreds of others, not worth parsing."""
    return "\n".join(line for line in text.splitlines()
                     if line.startswith(prefixes) or (line.startswith("#") and any(p in line for p in prefixes)))


def _sample_order(item: tuple[tuple[str, str, tuple[tuple[str, str], ...]], float]) -> tuple[Any, ...]:
    (family, name, labels), _ = item
    others = tuple(pair for pair in labels if pair[0] != "le")
    bound = next((float(value) for key, value in labels if key == "le"), 0.0)
    return family, others, not name.endswith("_bucket"), name, bound


class ClusterMetrics:
    """The cluster's exposition, scraped at most once per ``max_age`` seconds: ``/metrics`` is public, and however
    often it is called, the nodes' exporters are asked once per period (concurrent callers share one scrape)."""

    def __init__(self, deployments: Mapping[str, str], scrape: Scrape, max_age: float = SCRAPE_MAX_AGE_SECONDS) -> None:
        self._deployments = dict(deployments)
        self._scrape = scrape
        self._latest = Coalesced(self._exposition, max_age)

    async def exposition(self) -> bytes:
        return await self._latest.get()

    async def _exposition(self) -> bytes:
        texts, unreachable = await self._scrape()
        metrics = await asyncio.to_thread(aggregate, texts, self._deployments, unreachable)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed(metrics))
        return generate_latest(registry)


@dataclass(frozen=True, eq=False)
class _Fixed:
    metrics: list[Metric]

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def routes(cluster: ClusterMetrics) -> list[Route]:
    async def metrics(request: Request) -> Response:
        return Response(await cluster.exposition(), media_type=CONTENT_TYPE)

    return [Route("/metrics", metrics, methods=["GET"])]
