"""Initial schema: state, runs, operations journal, metrics, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
WS = sa.String(500)
KEY = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("name", WS, primary_key=True),
        sa.Column("lineage", sa.String(36), nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "managed_users",
        sa.Column("workspace", WS, primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("live_id", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(320), nullable=False),
        sa.Column("attrs", sa.JSON, nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "managed_groups",
        sa.Column("workspace", WS, primary_key=True),
        sa.Column("name", KEY, primary_key=True),
        sa.Column("live_id", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column("workspace", WS, primary_key=True),
        sa.Column("group_name", KEY, primary_key=True),
        sa.Column("user_key", KEY, primary_key=True),
    )
    op.create_table(
        "locks",
        sa.Column("workspace", WS, primary_key=True),
        sa.Column("holder", sa.String(500), nullable=False),
        sa.Column("run_id", sa.String(36)),
        sa.Column("acquired_at", TS, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", WS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("host", sa.String(255)),
        sa.Column("ci", sa.JSON),
        sa.Column("manifest_digest", sa.String(80)),
        sa.Column("plan_digest", sa.String(80)),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("outcome", sa.String(32)),
        sa.Column("summary", sa.JSON),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_runs_workspace_started", "runs", ["workspace", "started_at"])
    op.create_table(
        "operations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace", WS, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("phase", sa.String(8), nullable=False),
        sa.Column("action_id", sa.String(600), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(8), nullable=False),
        sa.Column("resource_key", KEY, nullable=False),
        sa.Column("resource_id", sa.String(64)),
        sa.Column("user_name", sa.String(320)),
        sa.Column("method", sa.String(8)),
        sa.Column("path", sa.String(500)),
        sa.Column("status", sa.Integer),
        sa.Column("outcome", sa.String(16)),
        sa.Column("attempts", sa.Integer),
        sa.Column("latency_ms", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("at", TS, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_operations_run", "operations", ["run_id"])
    op.create_index("ix_operations_key", "operations", ["workspace", "resource_key"])
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("workspace", WS, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", TS),
    )
    op.create_index("ix_outbox_status", "outbox", ["status"])


def downgrade() -> None:
    for table in (
        "outbox", "metrics", "operations", "runs", "locks",
        "memberships", "managed_groups", "managed_users", "workspaces",
    ):  # fmt: skip
        op.drop_table(table)
