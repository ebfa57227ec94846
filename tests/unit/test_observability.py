"""deploy/observability/: the Grafana dashboard and the Prometheus rules name only what /metrics really exports
(tests/support/exported_metrics.py derives it from the code), cover every family of it, and alert on the status
page's states and on the 99% monthly availability commitment. promtool checks and unit-tests the rules where it is
installed (Debian's `prometheus` package; tests/support/system_packages.sh installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from serve_app.status.availability import SLO_AVAILABILITY
from serve_app.status.states import State
from tests.support.exported_metrics import exported

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "observability"
PROMTOOL = shutil.which("promtool")
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"([^\"]*)\"")
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((FOLDER / "rules.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _recorded() -> dict[str, frozenset[str]]:
    """Recording rules' names, with the labels they keep (their `by` clause)."""
    recorded = {}
    for rule in _rules():
        if "record" in rule:
            (kept,) = set(GROUPING.findall(rule["expr"]))
            recorded[rule["record"]] = frozenset(label.strip() for label in kept.split(","))
    return recorded


def _metrics_in(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    return {name for name in IDENTIFIER.findall(without_strings) if name.startswith("llmaas")}


def _check_expression(expr: str, known: dict[str, frozenset[str]], where: str) -> set[str]:
    """The expression's metrics, after checking they and the labels it uses exist."""
    metrics = _metrics_in(expr)
    assert metrics, f"{where}: no platform metric in {expr!r}"
    unknown = metrics - set(known)
    assert not unknown, f"{where}: /metrics exports no {sorted(unknown)}"
    labels = frozenset().union(*(known[name] for name in metrics))
    used = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label.strip()}
    used |= {label for label, _ in MATCHER.findall(expr)}
    assert used <= labels | {"le"}, f"{where}: labels {sorted(used - labels)} are not on {sorted(metrics)}"
    for label, value in MATCHER.findall(expr):
        if label == "state":
            assert set(value.split("|")) <= {state.value for state in State}, where
    return metrics


def _family(name: str) -> str:
    return next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s) and not name.endswith("_total")),
                name)


def _panels() -> Iterator[dict[str, Any]]:
    dashboard = json.loads((FOLDER / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_the_exported_names_come_from_the_code() -> None:
    names = exported()
    assert names["llmaas_requests_total"] == {"endpoint", "model", "status"}
    assert names["llmaas_time_to_first_token_seconds_bucket"] == {"model", "le"}
    assert names["llmaas_queued_requests"] == names["llmaas_healthy_replicas"] == {"model"}
    assert names["llmaas_probes_total"] == {"model", "result"} and "llmaas_model_state" in names
    assert not any(name.startswith("ray_") for name in names)


def test_every_dashboard_query_names_metrics_and_labels_that_metrics_exports() -> None:
    used: set[str] = set()
    for panel in _panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            where = f"panel {panel['title']!r}, query {target['refId']}"
            metrics = _check_expression(target["expr"], exported(), where)
            used |= metrics
            labels = frozenset().union(*(exported()[name] for name in metrics))
            assert set(LEGEND_LABEL.findall(target.get("legendFormat", ""))) <= labels, where
            assert 'model=~"$model"' in target["expr"] or "model" not in labels, where
    assert {_family(name) for name in used} == {_family(name) for name in exported()}  # every family has a panel


def test_the_dashboard_is_well_formed() -> None:
    dashboard = json.loads((FOLDER / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in _panels()]
    assert len(ids) == len(set(ids))
    for panel in _panels():
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert len({target["refId"] for target in panel.get("targets", [])}) == len(panel.get("targets", []))
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    _check_expression(variables["model"]["definition"], exported(), "the model variable")


def test_every_rule_names_metrics_and_labels_that_metrics_exports() -> None:
    known = {**exported(), **_recorded()}
    for rule in _rules():
        _check_expression(rule["expr"], known, rule.get("alert") or rule["record"])
    used = set().union(*(_metrics_in(rule["expr"]) for rule in _rules() if "alert" in rule))
    assert set(_recorded()) <= used, "a recording rule no alert reads"


def test_alerts_cover_the_status_pages_states_and_the_slo() -> None:
    alerts = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    alerted = {value for rule in alerts.values() for label, value in MATCHER.findall(rule["expr"]) if label == "state"}
    assert {state.value for state in State if state.is_incident} | {State.UNKNOWN.value} <= alerted
    budget = round(1 - SLO_AVAILABILITY, 6)
    burn = [rule["expr"] for name, rule in alerts.items() if name.startswith("LLMaaSErrorBudgetBurn")]
    factors = [(float(factor), float(share)) for expr in burn
               for factor, share in re.findall(r"\(([\d.]+) \* ([\d.]+)\)", expr)]
    assert sorted({factor for factor, _ in factors}) == [1, 3, 6, 14.4]  # each with its long and short window
    assert {share for _, share in factors} == {budget}
    assert re.search(rf"< {SLO_AVAILABILITY}$", alerts["LLMaaSAvailabilityBelowSLO"]["expr"].strip())
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"page", "ticket", "warning"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_a_wrong_metric_name_fails_the_check() -> None:
    with pytest.raises(AssertionError, match="exports no"):
        _check_expression('rate(llmaas_request_total{model="m"}[5m])', exported(), "typo")
    with pytest.raises(AssertionError, match="labels"):
        _check_expression("sum by (tier) (rate(llmaas_requests_total[5m]))", exported(), "no such label")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; make test-packages does)")
    return subprocess.run([PROMTOOL, *args], cwd=FOLDER, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_rules_and_the_scrape_config() -> None:
    for args in (("check", "rules", "rules.yml"), ("check", "config", "prometheus.yml")):
        done = _promtool(*args)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_unit_tests_pass_in_promtool() -> None:
    done = _promtool("test", "rules", "rules.test.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
