"""Organisations: the organisations table (with the default organisation, where every existing key lands), each
key's organisation, the organisation of each usage record and audit entry, and budget alerts already sent.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
DEFAULT_ORGANISATION = "org_default"
DEFAULT_ALERTS = '{"thresholds_percent":[50,80,100],"webhook_url":null}'


def upgrade() -> None:
    organisations = op.create_table(
        "organisations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("contract", sa.Text(), nullable=False),
        sa.Column("sso", sa.Text(), nullable=True),
        sa.Column("alerts", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(organisations, [{"id": DEFAULT_ORGANISATION, "name": "Default organisation", "tier": None,
                                    "contract": "{}", "sso": None, "alerts": DEFAULT_ALERTS,
                                    "created_at": int(time.time())}])
    # Plain ALTER TABLE ... ADD COLUMN (SQLite has it too): no table is copied, so nothing of it is lost.
    op.add_column("api_keys", sa.Column("organisation_id", sa.String(length=64), nullable=False,
                                        server_default=DEFAULT_ORGANISATION))
    op.create_index("api_keys_by_organisation", "api_keys", ["organisation_id"])
    op.add_column("usage_records", sa.Column("organisation_id", sa.String(length=64), nullable=True))
    op.create_index("usage_by_organisation_time", "usage_records", ["organisation_id", "ended_at"])
    # Every key made before organisations is in the default organisation, and so is its usage.
    op.execute(sa.text("UPDATE usage_records SET organisation_id = :org").bindparams(org=DEFAULT_ORGANISATION))
    op.add_column("admin_audit_log", sa.Column("organisation_id", sa.String(length=64), nullable=True))
    op.create_table(
        "budget_alerts",
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("threshold_percent", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("budget_usd", sa.Float(), nullable=False),
        sa.Column("spent_usd", sa.Float(), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("organisation_id", "month", "threshold_percent"),
    )


def downgrade() -> None:
    op.drop_table("budget_alerts")
    with op.batch_alter_table("admin_audit_log") as batch:
        batch.drop_column("organisation_id")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_index("usage_by_organisation_time")
        batch.drop_column("organisation_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("api_keys_by_organisation")
        batch.drop_column("organisation_id")
    op.drop_table("organisations")
