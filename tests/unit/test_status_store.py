"""Probe history, incidents and maintenance windows on a real (SQLite) platform database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from serve_app.database import connect
from serve_app.settings import Settings
from serve_app.status import tables
from serve_app.status.history import DAY, ProbeHistory
from serve_app.status.incidents import IncidentStore
from serve_app.status.maintenance import MaintenanceStore
from serve_app.status.probes import ProbeResult
from serve_app.status.states import State

NOW = 1_800_000_000.0


@pytest.fixture
def database(tmp_path: Path) -> Engine:
    return connect(Settings(data_dir=tmp_path))  # migrated: the status tables are there


def probe(model: str, at: float, ok: bool = True) -> ProbeResult:
    return ProbeResult(model, at, ok, ttfb_ms=120.0 if ok else None, throughput=30.0 if ok else None,
                       error=None if ok else "timeout")


def test_uptime_over_each_window_counts_only_counted_probes(database: Engine) -> None:
    history = ProbeHistory(database)
    history.add([probe("m", NOW - 60), probe("m", NOW - 120, ok=False)])
    history.add([probe("m", NOW - 3 * DAY, ok=False)])
    history.add([probe("m", NOW - 30, ok=False)], uncounted={"m"})  # in maintenance, say
    uptime = history.uptimes(NOW)["m"]
    assert uptime == {"24h": 0.5, "7d": pytest.approx(1 / 3), "90d": pytest.approx(1 / 3)}
    days = history.daily(NOW)["m"]
    assert [day["uptime"] for day in days] == [0.0, 0.5]


def test_recent_probes_come_newest_first(database: Engine) -> None:
    history = ProbeHistory(database)
    history.add([probe("m", NOW - 10), probe("m", NOW - 5, ok=False), probe("other", NOW)], uncounted={"other"})
    recent = history.recent(["m", "other"], limit=5)
    assert [(p.at, p.ok, p.error, p.counted) for p in recent["m"]] == [(NOW - 5, False, "timeout", True),
                                                                      (NOW - 10, True, None, True)]
    assert [p.counted for p in recent["other"]] == [False]


def test_an_incident_opens_gathers_models_and_resolves_when_all_are_back(database: Engine) -> None:
    incidents = IncidentStore(database)
    incidents.reconcile({"a": State.PARTIAL_OUTAGE}, NOW)
    incidents.reconcile({"a": State.MAJOR_OUTAGE, "b": State.DEGRADED_PERFORMANCE}, NOW + 60)
    (incident,) = incidents.recent(NOW - DAY)
    assert incident.resolved_at is None and incident.impact is State.MAJOR_OUTAGE
    assert incident.title == "Partial outage: a"
    assert {(m.model, m.state, m.started_at) for m in incident.models} == {
        ("a", State.MAJOR_OUTAGE, NOW), ("b", State.DEGRADED_PERFORMANCE, NOW + 60)}
    incidents.reconcile({"b": State.DEGRADED_PERFORMANCE}, NOW + 120)
    incident = incidents.get(incident.id) or pytest.fail("the incident is gone")
    assert {m.model: m.recovered_at for m in incident.models} == {"a": NOW + 120, "b": None}
    incidents.reconcile({}, NOW + 180)
    incident = incidents.get(incident.id) or pytest.fail("the incident is gone")
    assert incident.resolved_at == NOW + 180
    assert incident.updates[0].status == "resolved" and incident.updates[-1].status == "investigating"
    incidents.reconcile({}, NOW + 240)
    assert len(incidents.recent(NOW - DAY)) == 1  # nothing new while everything is operational


def test_a_new_failure_after_resolution_is_a_new_incident(database: Engine) -> None:
    incidents = IncidentStore(database)
    incidents.reconcile({"a": State.MAJOR_OUTAGE}, NOW)
    incidents.reconcile({}, NOW + 60)
    incidents.reconcile({"a": State.PARTIAL_OUTAGE}, NOW + 120)
    newest, oldest = incidents.recent(NOW - DAY)
    assert newest.resolved_at is None and oldest.resolved_at == NOW + 60


def test_admins_set_titles_and_post_updates(database: Engine) -> None:
    incidents = IncidentStore(database)
    incidents.reconcile({"a": State.MAJOR_OUTAGE}, NOW)
    (incident,) = incidents.recent(NOW - DAY)
    assert incidents.set_title(incident.id, "Node failure in zone B") is not None
    updated = incidents.add_update(incident.id, "identified", "A GPU node rebooted.", NOW + 10)
    assert updated is not None and updated.title == "Node failure in zone B"
    assert (updated.updates[0].status, updated.updates[0].author) == ("identified", "admin")
    assert incidents.add_update("inc_missing", "update", "x", NOW) is None


def test_history_older_than_the_retention_is_pruned(database: Engine) -> None:
    history, incidents, maintenance = ProbeHistory(database), IncidentStore(database), MaintenanceStore(database)
    history.add([probe("m", NOW - 91 * DAY), probe("m", NOW)])
    incidents.reconcile({"m": State.MAJOR_OUTAGE}, NOW - 95 * DAY)
    incidents.reconcile({}, NOW - 94 * DAY)
    maintenance.create("old", [], NOW - 99 * DAY, NOW - 98 * DAY, NOW - 100 * DAY)
    before = NOW - 90 * DAY
    history.prune(before)
    incidents.prune(before)
    maintenance.prune(before)
    with database.connect() as db:
        counts = {table.name: db.execute(select(func.count()).select_from(table)).scalar_one()
                  for table in tables.ALL if table is not tables.SUMMARIES}
    assert counts == {"status_probes": 1, "status_incidents": 0, "status_incident_models": 0,
                      "status_incident_updates": 0, "status_maintenance": 0}


def test_maintenance_windows_cover_their_models_in_their_time(database: Engine) -> None:
    maintenance = MaintenanceStore(database)
    everything = maintenance.create("Driver upgrade", [], NOW + 100, NOW + 200, NOW)
    one = maintenance.create("Reload", ["a"], NOW - 10, NOW + 10, NOW)
    assert [w.id for w in maintenance.active(NOW)] == [one.id]
    assert one.covers("a", NOW) and not one.covers("b", NOW)
    assert everything.covers("b", NOW + 150) and not everything.covers("b", NOW)
    assert maintenance.end(one.id, NOW) and maintenance.active(NOW) == []
    assert maintenance.end(everything.id, NOW)  # not started yet: removed
    assert [w.id for w in maintenance.ending_after(NOW - 1)] == [one.id]
    assert not maintenance.end("mnt_missing", NOW)
