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

# One row per locked workspace. The holder is columns (migration 0003): who took it,
# on which host and process (so a dead holder on this host is recognised), for which
# run and kind of run; ``token`` is this acquisition, which release must match.
locks = Table(
    "locks",
    metadata,
    Column("workspace", WORKSPACE, primary_key=True),
    Column("token", String(36), nullable=False),
    Column("run_id", String(36)),
    Column("operation", String(16)),
    Column("who", String(255), nullable=False),
    Column("host", String(255)),
    Column("pid", Integer),
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
    # Which process ran it, so the next lock holder can tell a dead run from a live one.
    Column("pid", Integer),
    Column("locked_at", TS),  # when it got the state lock (never: it ended "abandoned")
    # Sealed into the journal's chain when the run ends: its hash is the chain head at
    # its end, so journal rows removed after it are detected (see scimctl/records/history.py).
    Column("seq", Integer),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
    Column("key_id", String(16)),
    Column("seal", JSON),
    # The scimctl that ran it (migration 0004); none for runs recorded before.
    Column("scimctl_version", String(64)),
    Index("ix_runs_workspace_started", "workspace", "started_at"),
    Index("ix_runs_kind_started", "kind", "started_at"),
    Index("ix_runs_seq", "seq"),
)

# Append-only: a row when an operation is about to be sent (intent) and one with its
# result. Each row's hash covers its content and the previous entry's hash; rows from
# before migration 0002 have no ``seq`` and form one legacy chain per workspace.
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
    Column("changes", JSON),  # {attr: {"before", "after"}} or {"members": {"added", "removed"}}
    Column("seq", Integer),  # position in the database-wide chain (runs share it)
    Column("key_id", String(16)),  # fingerprint of SCIMCTL_AUDIT_KEY when HMAC-chained
    Column("seal", JSON),  # per-field digests, so verify can name the edited field
    Index("ix_operations_run", "run_id"),
    Index("ix_operations_key", "workspace", "resource_key"),
    Index("ix_operations_seq", "seq"),
)

# The chain's head: one row, locked by every append so that writers in several
# processes (and on PostgreSQL, several hosts) extend one chain in one order.
journal_head = Table(
    "journal_head",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16)),
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
