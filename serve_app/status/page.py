"""The public status page: the /status.json document rendered as one self-contained HTML page (inline
CSS and SVG charts, no script, no external asset: the page works where the platform has no internet)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from serve_app.status.history import DAY

TEMPLATES = Path(__file__).parent / "templates"
NO_VALUE = "\u2013"  # an en dash
BAR_DAYS = 90


class StatusPage:
    def __init__(self) -> None:
        self._env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                                trim_blocks=True, lstrip_blocks=True)
        self._env.filters.update(utc=utc, percent=percent, duration=duration, number=number)
        self._env.globals.update(sparkline=sparkline, daily_bars=daily_bars)

    def render(self, document: dict[str, Any]) -> str:
        refresh = max(15, min(300, int(document["probe_interval_seconds"])))
        return self._env.get_template("status.html").render(doc=document, refresh=refresh)


def utc(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(ratio: float | None) -> str:
    if ratio is None:
        return NO_VALUE
    value = ratio * 100
    return "100%" if value == 100 else f"{min(value, 99.99):.2f}%"


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


def number(value: float | None, digits: int = 0) -> str:
    return NO_VALUE if value is None else f"{value:,.{digits}f}"


def sparkline(points: Sequence[dict[str, Any]], key: str, width: int = 168, height: int = 34) -> Markup:
    """A small line chart of ``key`` over the recent probes; failed probes are red ticks on the baseline."""
    if not points:
        return Markup(f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" aria-label="no data"></svg>')
    values = [p.get(key) for p in points]
    top = max((v for v in values if v is not None), default=0.0) * 1.15 or 1.0
    step = width / max(len(points) - 1, 1)
    coords = [(i * step, height - 2 - (v / top) * (height - 6)) for i, v in enumerate(values) if v is not None]
    parts = [f'<svg class="spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
             f'aria-label="{key} over the last {len(points)} probes">']
    if len(coords) > 1:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        area = f"{coords[0][0]:.1f},{height} {line} {coords[-1][0]:.1f},{height}"
        parts.append(f'<polygon class="area" points="{area}"/><polyline class="line" points="{line}"/>')
    elif coords:
        parts.append(f'<circle class="dot" cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" r="2"/>')
    parts += [f'<rect class="fail" x="{i * step - 1:.1f}" y="{height - 6}" width="2.5" height="6"/>'
              for i, p in enumerate(points) if not p.get("ok")]
    parts.append("</svg>")
    return Markup("".join(parts))


def daily_bars(days: Sequence[dict[str, Any]], now: float, width: int = 900, height: int = 30) -> Markup:
    """One bar per UTC day over the last 90 days, coloured by that day's uptime (grey: no probe)."""
    by_day = {d["day"]: d["uptime"] for d in days}
    today = int(now // DAY)
    slot = width / BAR_DAYS
    parts = [f'<svg class="bars" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
             f'aria-label="uptime per day over the last {BAR_DAYS} days">']
    for index in range(BAR_DAYS):
        day = (dt.date(1970, 1, 1) + dt.timedelta(days=today - BAR_DAYS + 1 + index)).isoformat()
        uptime = by_day.get(day)
        label = f"{day}: {percent(uptime)}" if uptime is not None else f"{day}: no data"
        parts.append(f'<rect class="{_bar_class(uptime)}" x="{index * slot + 0.6:.1f}" y="0" '
                     f'width="{slot - 1.2:.1f}" height="{height}" rx="1.5"><title>{label}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _bar_class(uptime: float | None) -> str:
    if uptime is None:
        return "nodata"
    if uptime >= 0.999:
        return "operational"
    if uptime >= 0.99:
        return "degraded_performance"
    return "partial_outage" if uptime >= 0.95 else "major_outage"
