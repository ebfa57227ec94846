"""The status page's tables, on the platform's database (SQLAlchemy Core: SQLite or PostgreSQL).

Times are UNIX seconds (floats). Nothing here holds a prompt, an answer or a key: probes send fixed
strings, and only their outcome and timings are kept.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table, Text

from serve_app.database import METADATA

PROBES = Table(
    "status_probes",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("at", Float, nullable=False),
    Column("day", Integer, nullable=False),  # UTC days since the epoch, for the daily uptime bars
    Column("ok", Boolean, nullable=False),
    Column("ttfb_ms", Float),
    Column("throughput", Float),
    Column("error", String(64)),
    # False for probes during maintenance, or before the model ever answered (it was starting): such probes
    # count neither in uptime nor in the model's state.
    Column("counted", Boolean, nullable=False, default=True),
    Index("status_probes_by_model_time", "model", "at"),
    Index("status_probes_by_time", "at"),
)

# One row per model: what the prober concluded after its latest round (state, uptimes, recent history),
# so that any ingress replica answers /status with one small read.
SUMMARIES = Table(
    "status_summaries",
    METADATA,
    Column("model", String(200), primary_key=True),
    Column("updated_at", Float, nullable=False),
    Column("state", String(32), nullable=False),
    Column("since", Float, nullable=False),
    Column("data", JSON, nullable=False),
)

INCIDENTS = Table(
    "status_incidents",
    METADATA,
    Column("id", String(40), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("impact", String(32), nullable=False),  # the worst state seen during the incident
    Column("automatic", Boolean, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("resolved_at", Float),
    Index("status_incidents_by_start", "started_at"),
)

INCIDENT_MODELS = Table(
    "status_incident_models",
    METADATA,
    Column("incident_id", String(40), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("recovered_at", Float),
)

INCIDENT_UPDATES = Table(
    "status_incident_updates",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(40), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("status", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("author", String(16), nullable=False),  # "system" or "admin"
)

MAINTENANCE = Table(
    "status_maintenance",
    METADATA,
    Column("id", String(40), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("models", JSON, nullable=False),  # a list of model ids; empty: every model
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
)

ALL = [PROBES, SUMMARIES, INCIDENTS, INCIDENT_MODELS, INCIDENT_UPDATES, MAINTENANCE]
