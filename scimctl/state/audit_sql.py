"""The audit history's reads in SQL (``AuditLog``): chain entries, filtered journal
and run log.

``scimctl.records.history`` keeps what to make of them (chain verification, redaction,
descriptions); here is only how to find the rows, so the history logic runs against
any ``AuditLog`` and the SQL stays next to the tables it reads.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scimctl.state import tables as t
from scimctl.state.db import Database


class SqlAuditLog:
    """Read-only: nothing here writes."""

    def __init__(self, db: Database, audit_key: str | None, key_id: str | None) -> None:
        self.db = db
        self.audit_key = audit_key
        self.key_id = key_id

    # -- the chain ---------------------------------------------------------------------
    def chain_entries(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """Chain entries from both tables, merged in chain order."""
        with self.db.connect() as conn:
            ops = conn.execute(
                sa.select(t.operations)
                .where(t.operations.c.seq.is_not(None))
                .order_by(t.operations.c.seq)
            ).mappings()
            runs = conn.execute(
                sa.select(t.runs).where(t.runs.c.seq.is_not(None)).order_by(t.runs.c.seq)
            ).mappings()
            yield from heapq.merge(
                ((r["seq"], "operations", dict(r)) for r in ops),
                ((r["seq"], "runs", dict(r)) for r in runs),
                key=lambda e: e[0],
            )

    def legacy_operations(self) -> Iterator[dict[str, Any]]:
        o = t.operations
        with self.db.connect() as conn:
            query = sa.select(o).where(o.c.seq.is_(None)).order_by(o.c.id)
            for row in conn.execute(query).mappings():
                yield dict(row)

    def chain_head(self) -> tuple[int, str] | None:
        h = t.journal_head
        with self.db.connect() as conn:
            head = conn.execute(sa.select(h.c.seq, h.c.hash)).first()
        return (head.seq, head.hash) if head is not None else None

    def unchained_runs(self) -> list[tuple[str, str]]:
        r = t.runs
        # A run without a pid was started before migration 0002: before the chain.
        query = sa.select(r.c.id, r.c.kind).where(
            r.c.seq.is_(None) & r.c.pid.is_not(None) & (r.c.outcome != "running")
        )
        with self.db.connect() as conn:
            return [(run_id, kind) for run_id, kind in conn.execute(query)]

    # -- the journal and the run log -------------------------------------------------------
    def find_operations(
        self,
        *,
        user: str | None = None,
        group: str | None = None,
        attribute: str | None = None,
        run: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> list[dict[str, Any]]:
        o, r = t.operations, t.runs
        result = sa.alias(o, "result_row")
        has_result = sa.exists().where(
            (result.c.run_id == o.c.run_id)
            & (result.c.action_id == o.c.action_id)
            & (result.c.phase == "result")
        )
        q = (
            sa.select(
                o,
                r.c.actor,
                r.c.ci,
                r.c.plan_digest,
                r.c.kind.label("run_kind"),
                r.c.outcome.label("run_outcome"),
            )  # fmt: skip
            .join(r, r.c.id == o.c.run_id)
            .where((o.c.phase == "result") | ((o.c.phase == "intent") & ~has_result))
            .order_by(o.c.id.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            if user:
                keys, names = _identities(conn, user)
                text = sa.func.lower(sa.cast(o.c.changes, sa.Text))
                members = [text.contains(json.dumps(n)) for n in sorted(names | keys)]
                q = q.where(
                    ((o.c.resource == "user") & o.c.resource_key.in_(keys))
                    | ((o.c.resource == "group") & sa.or_(*members))
                )
            if group:
                q = q.where((o.c.resource == "group") & (o.c.resource_key == group))
            if attribute:
                q = q.where(o.c.changes[attribute].as_string().is_not(None))
            if run:
                q = q.where(o.c.run_id.startswith(run))
            if since:
                q = q.where(o.c.at >= since)
            if until:
                q = q.where(o.c.at < until)
            if workspace:
                q = q.where(o.c.workspace == workspace)
            return [dict(row) for row in conn.execute(q).mappings()]

    def find_runs(
        self,
        *,
        kind: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> list[dict[str, Any]]:
        r, o = t.runs, t.operations
        sent = (
            sa.select(sa.func.count())
            .where((o.c.run_id == r.c.id) & (o.c.phase == "intent"))
            .scalar_subquery()
        )
        q = sa.select(r, sent.label("operations")).order_by(r.c.started_at.desc()).limit(limit)
        for column, value in ((r.c.kind, kind), (r.c.outcome, outcome), (r.c.workspace, workspace)):
            if value:
                q = q.where(column == value)
        if since:
            q = q.where(r.c.started_at >= since)
        if until:
            q = q.where(r.c.started_at < until)
        with self.db.connect() as conn:
            return [dict(row) for row in conn.execute(q).mappings()]

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(t.runs).where(t.runs.c.id.startswith(run_id))).all()
        return dict(rows[0]._mapping) if len(rows) == 1 else None

    def metrics(self, run_id: str) -> dict[str, float]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(t.metrics).where(t.metrics.c.run_id == run_id))
            return {r.name: r.value for r in rows}


def _identities(conn: sa.Connection, user: str) -> tuple[set[str], set[str]]:
    """Every externalId and userName of the account(s) that ever had this key or name."""
    o, mu = t.operations, t.managed_users
    needle = user.lower()
    keys = set(
        conn.execute(
            sa.select(o.c.resource_key)
            .where(o.c.resource == "user")
            .where((o.c.resource_key == user) | (sa.func.lower(o.c.user_name) == needle))
            .distinct()
        ).scalars()
    )
    keys |= set(
        conn.execute(
            sa.select(mu.c.key).where(
                (mu.c.key == user) | (sa.func.lower(mu.c.user_name) == needle)
            )
        ).scalars()
    )
    names = {needle}
    # A rename's row holds the new name; the old one is in its changes.
    renames = conn.execute(
        sa.select(o.c.resource_key, o.c.changes).where(
            (o.c.resource == "user")
            & (o.c.phase == "result")
            & sa.func.lower(sa.cast(o.c.changes, sa.Text)).contains(json.dumps(needle)[1:-1])
        )
    )
    for key, changes in renames:
        c = (changes or {}).get("userName") or {}
        if needle in (str(c.get("before", "")).lower(), str(c.get("after", "")).lower()):
            keys.add(key)
    if keys:
        names |= {
            n.lower()
            for n in conn.execute(
                sa.select(o.c.user_name)
                .where((o.c.resource == "user") & o.c.resource_key.in_(keys))
                .distinct()
            ).scalars()
            if n
        }
        for changes in conn.execute(
            sa.select(o.c.changes).where(
                (o.c.resource == "user") & o.c.resource_key.in_(keys) & (o.c.phase == "result")
            )
        ).scalars():
            for side in ((changes or {}).get("userName") or {}).values():
                if isinstance(side, str):
                    names.add(side.lower())
    return keys, names
