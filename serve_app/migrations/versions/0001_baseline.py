"""The schema as it stood before versioned migrations (keys, the usage ledger, the status page's tables, the
audit log, batches).

Installs made before migrations existed created these tables themselves: each is created here only if it is
missing, and the key table gets the columns added to it since its first version. Such a database then goes on
through the later revisions like a new one.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
KEY_COLUMNS_ADDED_LATER: dict[str, tuple[Any, Any]] = {
    "owner": (sa.String(200), None), "tier": (sa.String(64), "starter"), "quotas": (sa.Text(), "{}"),
    "internal": (sa.Boolean(), sa.false()), "rotated_at": (sa.Integer(), None)}


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "admin_audit_log" not in present:
        op.create_table("admin_audit_log",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id")
        )
        op.create_index("admin_audit_log_by_time", "admin_audit_log", ["at"], unique=False)
    if "api_keys" not in present:
        op.create_table("api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("quotas", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("rotated_at", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash")
        )
    else:
        _add_key_columns()
    if "batch_blob_records" not in present:
        op.create_table("batch_blob_records",
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("blob", "position")
        )
    if "batch_files" not in present:
        op.create_table("batch_files",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=True),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id")
        )
        op.create_index("batch_files_by_key", "batch_files", ["key_id", "created_at"], unique=False)
    if "batch_slots" not in present:
        op.create_table("batch_slots",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "kind")
        )
    if "batches" not in present:
        op.create_table("batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("input_file_id", sa.String(length=40), nullable=False),
        sa.Column("input_blob", sa.String(length=64), nullable=False),
        sa.Column("completion_window", sa.String(length=8), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("output_file_id", sa.String(length=40), nullable=True),
        sa.Column("error_file_id", sa.String(length=40), nullable=True),
        sa.Column("output_retention", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=True),
        sa.Column("in_progress_at", sa.BigInteger(), nullable=True),
        sa.Column("finalizing_at", sa.BigInteger(), nullable=True),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("failed_at", sa.BigInteger(), nullable=True),
        sa.Column("expired_at", sa.BigInteger(), nullable=True),
        sa.Column("cancelling_at", sa.BigInteger(), nullable=True),
        sa.Column("cancelled_at", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id")
        )
        op.create_index("batches_by_key", "batches", ["key_id", "created_at"], unique=False)
        op.create_index("batches_by_status", "batches", ["status"], unique=False)
    if "status_incident_models" not in present:
        op.create_table("status_incident_models",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("recovered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "model")
        )
    if "status_incident_updates" not in present:
        op.create_table("status_incident_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id")
        )
        op.create_index(op.f("ix_status_incident_updates_incident_id"), "status_incident_updates", ["incident_id"],
                        unique=False)
    if "status_incidents" not in present:
        op.create_table("status_incidents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("impact", sa.String(length=32), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id")
        )
        op.create_index("status_incidents_by_start", "status_incidents", ["started_at"], unique=False)
    if "status_maintenance" not in present:
        op.create_table("status_maintenance",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.Float(), nullable=False),
        sa.Column("ends_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id")
        )
    if "status_probes" not in present:
        op.create_table("status_probes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("ttfb_ms", sa.Float(), nullable=True),
        sa.Column("throughput", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id")
        )
        op.create_index("status_probes_by_model_time", "status_probes", ["model", "at"], unique=False)
        op.create_index("status_probes_by_time", "status_probes", ["at"], unique=False)
    if "status_summaries" not in present:
        op.create_table("status_summaries",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("model")
        )
    if "usage_records" not in present:
        op.create_table("usage_records",
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("request_id")
        )
        op.create_index("usage_by_key_time", "usage_records", ["key_id", "ended_at"], unique=False)
        op.create_index("usage_by_time", "usage_records", ["ended_at"], unique=False)


def _add_key_columns() -> None:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("api_keys")}
    missing = {name: spec for name, spec in KEY_COLUMNS_ADDED_LATER.items() if name not in present}
    if not missing:
        return
    for name, (column_type, default) in missing.items():  # ADD COLUMN: the table is not copied
        server_default = default if default is None or not isinstance(default, str) else sa.text(repr(default))
        op.add_column("api_keys", sa.Column(name, column_type, server_default=server_default,
                                            nullable=default is None))


def downgrade() -> None:
    op.drop_index("usage_by_time", table_name="usage_records")
    op.drop_index("usage_by_key_time", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_table("status_summaries")
    op.drop_index("status_probes_by_time", table_name="status_probes")
    op.drop_index("status_probes_by_model_time", table_name="status_probes")
    op.drop_table("status_probes")
    op.drop_table("status_maintenance")
    op.drop_index("status_incidents_by_start", table_name="status_incidents")
    op.drop_table("status_incidents")
    op.drop_index(op.f("ix_status_incident_updates_incident_id"), table_name="status_incident_updates")
    op.drop_table("status_incident_updates")
    op.drop_table("status_incident_models")
    op.drop_index("batches_by_status", table_name="batches")
    op.drop_index("batches_by_key", table_name="batches")
    op.drop_table("batches")
    op.drop_table("batch_slots")
    op.drop_index("batch_files_by_key", table_name="batch_files")
    op.drop_table("batch_files")
    op.drop_table("batch_blob_records")
    op.drop_table("api_keys")
    op.drop_index("admin_audit_log_by_time", table_name="admin_audit_log")
    op.drop_table("admin_audit_log")
