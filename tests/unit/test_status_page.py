from __future__ import annotations

from typing import Any

from serve_app.status.page import StatusPage, daily_bars, duration, percent, sparkline

NOW = 1_800_000_000.0


def document(**changes: Any) -> dict[str, Any]:
    model = {"id": "m-1", "family": "Fam", "capabilities": ["chat"], "lifecycle": "deprecated",
             "state": "degraded_performance", "label": "Degraded performance", "since": NOW - 600,
             "checked_at": NOW, "maintenance": None, "unit": "tokens/s",
             "last_probe": {"at": NOW, "ok": True, "ttfb_ms": 812.4, "throughput": 31.26, "error": None},
             "uptime": {"24h": 0.99951, "7d": 1.0, "90d": None},
             "history": [{"at": NOW - 60, "ok": False, "ttfb_ms": None, "throughput": None},
                         {"at": NOW, "ok": True, "ttfb_ms": 812.4, "throughput": 31.26}],
             "daily": [{"day": "2027-01-15", "uptime": 0.97, "probes": 1440}]}
    incident = {"id": "inc_1", "title": "<script>alert(1)</script>", "impact": "major_outage", "automatic": True,
                "started_at": NOW - 3600, "resolved_at": None, "status": "open",
                "models": [{"model": "m-1", "state": "major_outage", "started_at": NOW - 3600, "recovered_at": None}],
                "updates": [{"at": NOW - 3600, "status": "investigating", "message": "Detected & <b>watched</b>",
                             "author": "system"}]}
    return {"object": "status", "generated_at": NOW, "state": "degraded_performance",
            "label": "Degraded performance", "probe_interval_seconds": 60, "checked_at": NOW, "stale": False,
            "models": [model], "incidents": [incident], "maintenance": [], **changes}


def test_the_page_shows_the_state_each_model_and_the_incidents() -> None:
    html = StatusPage().render(document())
    assert "<title>Degraded performance · Platform status</title>" in html
    assert 'data-model="m-1" data-state="degraded_performance"' in html
    assert "812 <small>ms</small>" in html and "31.3 <small>tokens/s</small>" in html
    assert "99.95%" in html and "deprecated" in html and "1 h 0 min so far" in html
    assert html.count("<svg") == 3  # two sparklines and the daily bars
    assert '<meta http-equiv="refresh" content="60">' in html


def test_text_from_admins_is_escaped() -> None:
    html = StatusPage().render(document())
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Detected &amp; &lt;b&gt;watched&lt;/b&gt;" in html


def test_stale_data_and_maintenance_are_announced() -> None:
    window = {"id": "mnt_1", "title": "GPU driver upgrade", "models": [], "starts_at": NOW, "ends_at": NOW + 3600,
              "status": "active"}
    html = StatusPage().render(document(stale=True, maintenance=[window], incidents=[]))
    assert "may be out of date" in html and "Maintenance under way" in html and "all models" in html
    assert "No incident in the last 90 days." in html


def test_charts() -> None:
    line = str(sparkline([{"ok": True, "v": 1.0}, {"ok": False, "v": None}, {"ok": True, "v": 3.0}], "v"))
    assert "<polyline" in line and line.count('class="fail"') == 1
    assert "<polyline" not in str(sparkline([], "v"))
    bars = str(daily_bars([{"day": "2027-01-15", "uptime": 0.5}], NOW))
    assert bars.count("<rect") == 90 and bars.count('class="major_outage"') == 1 and "2027-01-15: 50.00%" in bars


def test_formats() -> None:
    assert (percent(None), percent(1.0), percent(0.99999), percent(0.5)) == ("\u2013", "100%", "99.99%", "50.00%")
    assert (duration(42), duration(3 * 60), duration(2 * 3600 + 60), duration(3 * 86400)) == (
        "42 s", "3 min", "2 h 1 min", "3 days")
