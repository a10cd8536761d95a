"""The audit history: who changed which account, when, from which commit.

Reads the append-only ``operations`` journal and the ``runs`` table, and checks the
journal's hash chain: each row's hash covers its content and the previous row's
hash, so an edited, deleted or reordered row breaks the chain from there on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from scimctl.state import tables as t
from scimctl.state.store import GENESIS, Store, operation_hash


@dataclass
class ChainReport:
    rows: int
    workspaces: int
    broken_at: int | None = None  # operations.id of the first row that does not verify
    workspace: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(store: Store) -> ChainReport:
    """Walk every workspace's chain in order; report the first broken link."""
    report = ChainReport(rows=0, workspaces=0)
    expected: dict[str, str] = {}
    query = sa.select(t.operations).order_by(t.operations.c.id)
    with store.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            report.rows += 1
            ws = row["workspace"]
            if ws not in expected:
                report.workspaces += 1
            prev = expected.get(ws, GENESIS)
            if row["prev_hash"] != prev:
                reason = "it does not follow the row before it (a row was removed or reordered)"
            elif operation_hash(prev, dict(row)) != row["hash"]:
                reason = "its content does not match its hash (the row was edited)"
            else:
                expected[ws] = row["hash"]
                continue
            report.broken_at, report.workspace, report.reason = row["id"], ws, reason
            return report
    return report


def parse_since(text: str) -> datetime:
    """A date (2026-11-01) or an ISO timestamp; naive times are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: use a date such as 2026-11-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def history(
    store: Store,
    *,
    user: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """Finished operations, newest first, with the run's actor and CI context."""
    o, r = t.operations, t.runs
    q = (
        sa.select(o, r.c.actor, r.c.ci, r.c.kind.label("run_kind"))
        .join(r, r.c.id == o.c.run_id)
        .where(o.c.phase == "result")
        .order_by(o.c.id.desc())
        .limit(limit)
    )
    if user:
        q = q.where((o.c.resource_key == user) | (sa.func.lower(o.c.user_name) == user.lower()))
    if since:
        q = q.where(o.c.at >= since)
    if workspace:
        q = q.where(o.c.workspace == workspace)
    with store.engine.connect() as conn:
        return [_plain(dict(row)) for row in conn.execute(q).mappings()]


def run_details(store: Store, run_id: str) -> dict[str, Any] | None:
    """One run (by id or unique prefix) with its operations and metrics."""
    run = store.run(run_id)
    if run is None:
        return None
    ops = [_plain(row) for row in store.operations(run_id=run["id"]) if row["phase"] == "result"]
    return {**_plain(run), "operations": ops, "metrics": store.metrics(run["id"])}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        out[key] = value
    return out
