"""The lock holder as columns: who, host, pid, operation, and a per-lock token.

The holder used to be one string (``actor@host pid N``) that the code built and
parsed back to tell a dead holder from a live one and to release only its own lock.
Now each part is a column, and ``token`` identifies one acquisition, which release
matches on. A lock row present during the upgrade (a run holding it, or one left by
a crash) is split here, once; the ``holder`` column then goes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import re
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# ``actor@host pid N``: the host is after the last "@" (an actor may hold one). A
# holder that does not split this way (a hand-made row) is kept whole as ``who``.
HOLDER = re.compile(r"(?P<who>.*)@(?P<host>[^@ ]*)(?: pid (?P<pid>\d+))?")


def split_holder(holder: str) -> tuple[str, str | None, int | None]:
    match = HOLDER.fullmatch(holder)
    if match is None:
        return holder, None, None
    pid = match["pid"]
    return match["who"], match["host"] or None, int(pid) if pid is not None else None


def upgrade() -> None:
    with op.batch_alter_table("locks") as batch:
        batch.add_column(sa.Column("token", sa.String(36)))
        batch.add_column(sa.Column("operation", sa.String(16)))
        batch.add_column(sa.Column("who", sa.String(255)))
        batch.add_column(sa.Column("host", sa.String(255)))
        batch.add_column(sa.Column("pid", sa.Integer))
    conn = op.get_bind()
    locks = sa.table(
        "locks", sa.column("workspace"), sa.column("holder"), sa.column("run_id"),
        sa.column("token"), sa.column("operation"), sa.column("who"), sa.column("host"),
        sa.column("pid"),
    )  # fmt: skip
    runs = sa.table("runs", sa.column("id"), sa.column("kind"))
    rows = conn.execute(sa.select(locks.c.workspace, locks.c.holder, locks.c.run_id)).all()
    for workspace, holder, run_id in rows:
        who, host, pid = split_holder(holder)
        kind = None
        if run_id is not None:
            kind = conn.execute(sa.select(runs.c.kind).where(runs.c.id == run_id)).scalar()
        conn.execute(
            locks.update()
            .where(locks.c.workspace == workspace)
            .values(
                token=str(uuid.uuid4()),
                operation=kind,
                who=who[:255],
                host=host[:255] if host else None,
                pid=pid,
            )  # fmt: skip
        )
    with op.batch_alter_table("locks") as batch:
        batch.alter_column("token", existing_type=sa.String(36), nullable=False)
        batch.alter_column("who", existing_type=sa.String(255), nullable=False)
        batch.drop_column("holder")


def downgrade() -> None:
    with op.batch_alter_table("locks") as batch:
        batch.add_column(sa.Column("holder", sa.String(500)))
    conn = op.get_bind()
    locks = sa.table(
        "locks", sa.column("workspace"), sa.column("holder"), sa.column("who"),
        sa.column("host"), sa.column("pid"),
    )  # fmt: skip
    for workspace, who, host, pid in conn.execute(
        sa.select(locks.c.workspace, locks.c.who, locks.c.host, locks.c.pid)
    ).all():
        holder = f"{who}@{host}" if host else who
        if pid is not None:
            holder += f" pid {pid}"
        conn.execute(
            locks.update().where(locks.c.workspace == workspace).values(holder=holder[:500])
        )
    with op.batch_alter_table("locks") as batch:
        batch.alter_column("holder", existing_type=sa.String(500), nullable=False)
        for name in ("pid", "host", "who", "operation", "token"):
            batch.drop_column(name)
