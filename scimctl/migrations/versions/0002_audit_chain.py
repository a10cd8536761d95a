"""Audit records: values in the journal, one chain over runs and operations.

- operations: ``changes`` (before/after per attribute), ``seq`` (position in the
  database-wide chain), ``key_id`` (HMAC key fingerprint), ``seal`` (field digests).
- runs: ``pid`` and ``locked_at`` (so a dead run can be told crashed from
  abandoned), and the chain columns ``seq``, ``prev_hash``, ``hash``, ``key_id``,
  ``seal``.
- journal_head: the chain's head, one row that every append locks.

Existing rows are kept as they are: their operations stay verifiable as the old
per-workspace chains, and the new chain starts from an anchor over those chains'
heads, so the old rows cannot be cut off unnoticed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
GENESIS = "0" * 64


def _anchor(heads: dict) -> str:
    # A frozen copy of scimctl.state.chain.legacy_anchor (a test keeps them equal).
    if not heads:
        return GENESIS
    raw = json.dumps(heads, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(("scimctl legacy heads\n" + raw).encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("changes", sa.JSON))
        batch.add_column(sa.Column("seq", sa.Integer))
        batch.add_column(sa.Column("key_id", sa.String(16)))
        batch.add_column(sa.Column("seal", sa.JSON))
    op.create_index("ix_operations_seq", "operations", ["seq"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer))
        batch.add_column(sa.Column("locked_at", TS))
        batch.add_column(sa.Column("seq", sa.Integer))
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("hash", sa.String(64)))
        batch.add_column(sa.Column("key_id", sa.String(16)))
        batch.add_column(sa.Column("seal", sa.JSON))
    op.create_index("ix_runs_kind_started", "runs", ["kind", "started_at"])
    op.create_index("ix_runs_seq", "runs", ["seq"])
    head = op.create_table(
        "journal_head",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16)),
    )
    conn = op.get_bind()
    ops = sa.table("operations", sa.column("id"), sa.column("workspace"), sa.column("hash"))
    last = (
        sa.select(ops.c.workspace, sa.func.max(ops.c.id).label("id"))
        .group_by(ops.c.workspace)
        .subquery()
    )
    rows = conn.execute(
        sa.select(ops.c.workspace, ops.c.hash).join(last, ops.c.id == last.c.id)
    ).all()
    heads = {workspace: hash_ for workspace, hash_ in rows}
    op.bulk_insert(head, [{"name": "main", "seq": 0, "hash": _anchor(heads), "key_id": None}])


def downgrade() -> None:
    op.drop_table("journal_head")
    op.drop_index("ix_runs_seq", "runs")
    op.drop_index("ix_runs_kind_started", "runs")
    with op.batch_alter_table("runs") as batch:
        for name in ("seal", "key_id", "hash", "prev_hash", "seq", "locked_at", "pid"):
            batch.drop_column(name)
    op.drop_index("ix_operations_seq", "operations")
    with op.batch_alter_table("operations") as batch:
        for name in ("seal", "key_id", "seq", "changes"):
            batch.drop_column(name)
