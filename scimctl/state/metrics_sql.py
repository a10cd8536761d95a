"""The Prometheus export's reads in SQL (``MetricsReader``): aggregates over runs,
the journal, per-run metrics and managed users, in one connection.

``scimctl.records.metrics`` decides what they mean as Prometheus families; here is only how
to count them in the database, where counting is cheap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scimctl.state import tables as t
from scimctl.state.db import Database
from scimctl.state.interfaces import MetricAggregates


class SqlMetricsReader:
    def __init__(self, db: Database) -> None:
        self.db = db

    def metric_aggregates(
        self, workspace: str | None, buckets: tuple[float, ...], names: list[str]
    ) -> MetricAggregates:
        def ws(column: Any) -> Any:
            return sa.true() if workspace is None else column == workspace

        r, o, m, mu = t.runs, t.operations, t.metrics, t.managed_users
        ended = sa.func.max(sa.func.coalesce(r.c.finished_at, r.c.started_at))
        runs_q = (
            sa.select(r.c.workspace, r.c.kind, r.c.outcome, sa.func.count(), ended)
            .where(ws(r.c.workspace))
            .group_by(r.c.workspace, r.c.kind, r.c.outcome)
            .order_by(r.c.workspace, r.c.kind, r.c.outcome)
        )
        ops_q = (
            sa.select(o.c.workspace, o.c.action, o.c.outcome, sa.func.count())
            .where((o.c.phase == "result") & ws(o.c.workspace))
            .group_by(o.c.workspace, o.c.action, o.c.outcome)
            .order_by(o.c.workspace, o.c.action, o.c.outcome)
        )
        seconds = o.c.latency_ms / 1000.0
        columns = [sa.func.sum(sa.case((seconds <= b, 1), else_=0)) for b in buckets]
        latency_q = (
            sa.select(o.c.workspace, o.c.action, sa.func.count(), sa.func.sum(seconds), *columns)
            .where(
                (o.c.phase == "result")
                & (o.c.outcome != "skipped")
                & o.c.latency_ms.is_not(None)
                & ws(o.c.workspace)
            )
            .group_by(o.c.workspace, o.c.action)
            .order_by(o.c.workspace, o.c.action)
        )
        totals_q = (
            sa.select(r.c.workspace, m.c.name, sa.func.sum(m.c.value), sa.func.count())
            .join(r, r.c.id == m.c.run_id)
            .where((r.c.kind == "apply") & m.c.name.in_(names) & ws(r.c.workspace))
            .group_by(r.c.workspace, m.c.name)
            .order_by(r.c.workspace, m.c.name)
        )
        managed_q = (
            sa.select(mu.c.workspace, sa.func.count())
            .where(ws(mu.c.workspace))
            .group_by(mu.c.workspace)
            .order_by(mu.c.workspace)
        )
        with self.db.connect() as conn:
            return MetricAggregates(
                runs=[
                    (w, kind, outcome, int(count), _as_datetime(when))
                    for w, kind, outcome, count, when in conn.execute(runs_q)
                ],
                operations=[(w, a, oc, int(n)) for w, a, oc, n in conn.execute(ops_q)],
                latency=[
                    (w, a, int(n), float(total or 0.0), [int(c or 0) for c in cumulative])
                    for w, a, n, total, *cumulative in conn.execute(latency_q)
                ],
                totals=[(w, name, float(v), int(n)) for w, name, v, n in conn.execute(totals_q)],
                managed_users=[(w, int(n)) for w, n in conn.execute(managed_q)],
                newest_plans=self._newest_plans(conn, ws),
                newest_drift=self._newest_drift(conn, ws),
            )

    @staticmethod
    def _newest_plans(
        conn: sa.Connection, ws: Any
    ) -> list[tuple[str, dict[str, Any] | None, bool]]:
        """Each workspace's newest finished plan, and whether an apply ran it to success."""
        r = t.runs
        newest = (
            sa.select(r.c.workspace, sa.func.max(r.c.started_at).label("started_at"))
            .where((r.c.kind == "plan") & r.c.outcome.in_(["changes", "no-changes"]))
            .where(ws(r.c.workspace))
            .group_by(r.c.workspace)
            .subquery()
        )
        q = (
            sa.select(r.c.workspace, r.c.summary, r.c.plan_digest)
            .join(
                newest,
                (r.c.workspace == newest.c.workspace) & (r.c.started_at == newest.c.started_at),
            )
            .where(r.c.kind == "plan")
            .order_by(r.c.workspace)
        )
        applied = sa.select(r.c.plan_digest).where(
            (r.c.kind == "apply")
            & (r.c.outcome == "succeeded")
            & (r.c.plan_digest == sa.bindparam("d"))
        )
        out: list[tuple[str, dict[str, Any] | None, bool]] = []
        seen = set()
        for w, summary, digest in conn.execute(q):
            if w in seen:
                continue
            seen.add(w)
            done = digest is not None and conn.execute(applied, {"d": digest}).first() is not None
            out.append((w, summary if isinstance(summary, dict) else None, done))
        return out

    @staticmethod
    def _newest_drift(conn: sa.Connection, ws: Any) -> list[tuple[str, Any]]:
        r = t.runs
        q = (
            sa.select(r.c.workspace, r.c.summary)
            .where((r.c.kind == "drift") & r.c.outcome.in_(["drift", "no-drift"]))
            .where(ws(r.c.workspace))
            .order_by(r.c.workspace, r.c.started_at.desc())
        )
        out: list[tuple[str, Any]] = []
        seen = set()
        for w, summary in conn.execute(q):
            if w not in seen:
                seen.add(w)
                out.append((w, summary))
        return out


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))  # SQLite hands back text from max()
