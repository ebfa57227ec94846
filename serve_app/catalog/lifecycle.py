"""The published lifecycle as clients see it: HTTP headers on calls to deprecated models (RFC 9745
``Deprecation``, RFC 8594 ``Sunset``, a ``Link`` to the successor), and the public schedule."""

from __future__ import annotations

import calendar
import datetime as dt
from email.utils import formatdate
from typing import Any

from serve_app.catalog.schema import Catalog, ModelEntry

LIFECYCLE_PATH = "/lifecycle"


def _timestamp(day: dt.date) -> int:
    return calendar.timegm(day.timetuple())


def deprecation_headers(entry: ModelEntry, today: dt.date) -> dict[str, str]:
    """Headers for a successful call: empty unless the model is deprecated."""
    life = entry.lifecycle
    if life.status(today) != "deprecated" or life.deprecated_on is None:
        return {}
    headers = {"Deprecation": f"@{_timestamp(life.deprecated_on)}"}
    if life.retires_on is not None:
        headers["Sunset"] = formatdate(_timestamp(life.retires_on), usegmt=True)
    links = [f'<{LIFECYCLE_PATH}>; rel="deprecation"; type="application/json"']
    if life.replacement:
        links.append(f'</v1/models/{life.replacement}>; rel="successor-version"')
    headers["Link"] = ", ".join(links)
    return headers


def lifecycle_object(entry: ModelEntry, today: dt.date) -> dict[str, Any]:
    life = entry.lifecycle
    return {"status": life.status(today), "available_from": life.available_from.isoformat(),
            "deprecated_on": life.deprecated_on.isoformat() if life.deprecated_on else None,
            "retires_on": life.retires_on.isoformat() if life.retires_on else None,
            "replacement": life.replacement}


def schedule(catalog: Catalog, today: dt.date) -> dict[str, Any]:
    """The public lifecycle: every model's dates, and the retirements still to come, soonest first."""
    upcoming = sorted((entry for entry in catalog.models
                       if entry.lifecycle.retires_on is not None and entry.lifecycle.retires_on > today),
                      key=lambda entry: (entry.lifecycle.retires_on, entry.id))
    return {
        "object": "lifecycle",
        "as_of": today.isoformat(),
        "upcoming_retirements": [{"id": entry.id, **lifecycle_object(entry, today)} for entry in upcoming],
        "models": [{"id": entry.id, **lifecycle_object(entry, today)} for entry in catalog.models],
    }
