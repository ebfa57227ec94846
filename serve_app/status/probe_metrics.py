"""The status prober's Prometheus series, recorded after each round with ``ray.serve.metrics`` (the prober is a
Serve replica) and served cluster-wide by ``/metrics``: ``llmaas_probes_total`` (counted probes by model and
result: the availability the SLO alerts burn) and ``llmaas_model_state`` (the page's state of each model, one
series per state, 1 for the current one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from serve_app.metrics import STATUS_FAMILIES, Family, ray_instrument
from serve_app.status.probes import ProbeResult
from serve_app.status.states import State


class ProbeMetrics:
    def __init__(self, instrument: Callable[[Family], Any] = ray_instrument) -> None:
        self._probes, self._state = (instrument(family) for family in STATUS_FAMILIES)

    def record(self, counted: Sequence[ProbeResult], states: Mapping[str, State]) -> None:
        for result in counted:
            self._probes.inc(1, tags={"model": result.model, "result": "ok" if result.ok else "failed"})
        for model, current in states.items():
            for state in State:
                self._state.set(1.0 if state is current else 0.0, tags={"model": model, "state": state.value})
