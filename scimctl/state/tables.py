"""The database schema (SQLAlchemy Core). Alembic migrations in migrations/ create it.

One schema for SQLite and PostgreSQL; every table is keyed by workspace so several
targets can share one database.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
    }
)

KEY = String(255)
WORKSPACE = String(500)
TS = DateTime(timezone=True)

workspaces = Table(
    "workspaces",
    metadata,
    Column("name", WORKSPACE, primary_key=True),
    Column("lineage", String(36), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

managed_users = Table(
    "managed_users",
    metadata,
    Column("workspace", WORKSPACE, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("live_id", String(64), nullable=False),
    Column("user_name", String(320), nullable=False),
    Column("attrs", JSON, nullable=False),
    Column("version", String(64)),
    Column("updated_at", TS, nullable=False),
)

managed_groups = Table(
    "managed_groups",
    metadata,
    Column("workspace", WORKSPACE, primary_key=True),
    Column("name", KEY, primary_key=True),
    Column("live_id", String(64), nullable=False),
    Column("updated_at", TS, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("workspace", WORKSPACE, primary_key=True),
    Column("group_name", KEY, primary_key=True),
    Column("user_key", KEY, primary_key=True),
)

locks = Table(
    "locks",
    metadata,
    Column("workspace", WORKSPACE, primary_key=True),
    Column("holder", String(500), nullable=False),
    Column("run_id", String(36)),
    Column("acquired_at", TS, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", WORKSPACE, nullable=False),
    Column("kind", String(16), nullable=False),  # plan | apply
    Column("actor", String(255)),
    Column("host", String(255)),
    Column("ci", JSON),
    Column("manifest_digest", String(80)),
    Column("plan_digest", String(80)),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("outcome", String(32)),  # running | no-changes | changes | succeeded | failed | ...
    Column("summary", JSON),
    Column("error", Text),
    Index("ix_runs_workspace_started", "workspace", "started_at"),
)

# Append-only: a row when an operation is about to be sent (intent) and one with its
# result. Each row's hash covers its content and the previous row's hash.
operations = Table(
    "operations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", WORKSPACE, nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("phase", String(8), nullable=False),  # intent | result
    Column("action_id", String(600), nullable=False),
    Column("action", String(32), nullable=False),
    Column("resource", String(8), nullable=False),
    Column("resource_key", KEY, nullable=False),
    Column("resource_id", String(64)),
    Column("user_name", String(320)),
    Column("method", String(8)),
    Column("path", String(500)),
    Column("status", Integer),
    Column("outcome", String(16)),  # ok | failed | skipped
    Column("attempts", Integer),
    Column("latency_ms", Float),
    Column("error", Text),
    Column("at", TS, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_operations_run", "run_id"),
    Index("ix_operations_key", "workspace", "resource_key"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("name", String(120), primary_key=True),
    Column("value", Float, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("workspace", WORKSPACE, nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("delivered_at", TS),
    Index("ix_outbox_status", "status"),
)
