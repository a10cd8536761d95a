"""The run log and the journal in SQL: runs, the hash-chained operations, metrics.

Implements ``Journal``. Every journal row and every finished run takes the next place
in one database-wide chain (``scimctl.state.chain`` says how an entry is hashed);
the head row is moved by compare-and-set in the writer's transaction, so writers in
several processes extend one chain in one order. Runs whose process died are closed
here too (``crashed`` or ``abandoned``), because closing one seals it into the chain.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from scimctl import __version__
from scimctl.errors import AuditKeyError
from scimctl.state import chain
from scimctl.state import tables as t
from scimctl.state.clock import iso, now
from scimctl.state.context import actor, ci_context, hostname, process_is_gone
from scimctl.state.db import Database
from scimctl.text import count

_INSERT_OPERATION = t.operations.insert()
_HEAD = t.journal_head
# Built once: an apply appends two journal rows per operation.
_HEAD_READ = sa.select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.key_id).where(_HEAD.c.name == "main")
# Compare-and-set: moves the head only from the entry the appender computed from (the
# position and its hash, so a rolled-back append cannot leave a head that looks right).
_HEAD_MOVE = (
    _HEAD.update()
    .where(
        (_HEAD.c.name == "main")
        & (_HEAD.c.seq == sa.bindparam("b_old"))
        & (_HEAD.c.hash == sa.bindparam("b_prev"))
    )
    .values(seq=sa.bindparam("b_seq"), hash=sa.bindparam("b_hash"), key_id=sa.bindparam("b_key_id"))
)


class SqlJournal:
    """Runs, the operations journal and its chain, and per-run metrics."""

    def __init__(self, db: Database, audit_key: str | None) -> None:
        """``audit_key`` makes the chain an HMAC chain (``SCIMCTL_AUDIT_KEY``)."""
        self.db = db
        self.engine = db.engine
        self.tx = db.tx
        self.audit_key = audit_key
        self.key_id = chain.key_id(audit_key)
        # The head this process moved last: the usual append is then one UPDATE.
        self._head_cache: tuple[int, str, str | None] | None = None

    # -- runs ----------------------------------------------------------------
    def start_run(
        self,
        workspace: str,
        kind: str,
        manifest_digest: str | None = None,
        plan_digest: str | None = None,
    ) -> str:
        self.check_audit_key(kind)
        run_id = str(uuid.uuid4())
        with self.tx() as conn:
            conn.execute(
                t.runs.insert().values(
                    id=run_id,
                    workspace=workspace,
                    kind=kind,
                    actor=actor(),
                    host=hostname(),
                    ci=ci_context() or None,
                    manifest_digest=manifest_digest,
                    plan_digest=plan_digest,
                    started_at=now(),
                    outcome="running",
                    pid=os.getpid(),
                    scimctl_version=__version__,
                )
            )
        return run_id

    def check_audit_key(self, kind: str = "apply") -> None:
        """Refuse to extend an HMAC-keyed journal without its key (or with another one).

        Plan runs change nothing, so they may run without the key (a pull request's
        CI should not hold it); they are then left out of the chain.
        """
        head = self._head()
        if head.key_id is None or head.key_id == self.key_id or kind == "plan":
            return
        if self.key_id is None:
            raise AuditKeyError(
                "the audit journal is HMAC-chained: set SCIMCTL_AUDIT_KEY to the key it uses"
            )
        raise AuditKeyError(
            "SCIMCTL_AUDIT_KEY is not the key the audit journal is chained with "
            f"(fingerprint {head.key_id}, yours {self.key_id})"
        )

    def _head(self) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.journal_head).where(t.journal_head.c.name == "main")
            ).one()

    def journal_head(self) -> tuple[int, str, str | None]:
        """(seq, hash, key fingerprint) of the chain's last entry, as the head row says."""
        head = self._head()
        return head.seq, head.hash, head.key_id

    def finish_run(
        self,
        run_id: str,
        outcome: str,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
        plan_digest: str | None = None,
    ) -> None:
        with self.tx() as conn:
            self._finish(conn, run_id, outcome, summary, error, plan_digest)

    def _finish(
        self, conn: Connection, run_id: str, outcome: str, summary: dict[str, Any] | None,
        error: str | None, plan_digest: str | None,
    ) -> None:  # fmt: skip
        """Record how a run ended and seal it into the chain, once.

        A sealed run is not changed again (that would break the chain): if a run that
        ``state unlock`` declared crashed finishes after all, its operations are in the
        journal but its run record keeps saying crashed.
        """
        values: dict[str, Any] = {"finished_at": now(), "outcome": outcome, "summary": summary}
        if error is not None:
            values["error"] = error
        if plan_digest is not None:
            values["plan_digest"] = plan_digest
        where = (t.runs.c.id == run_id) & t.runs.c.seq.is_(None)
        conn.execute(t.runs.update().where(where).values(**values))
        row = conn.execute(sa.select(t.runs).where(where)).first()
        if row is None:
            return
        run = dict(row._mapping)
        if run["kind"] == "plan" and not self._may_append(conn):
            return  # a keyed chain and no key: see check_audit_key
        sealed = self._append(conn, "runs", run)
        conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(**sealed))

    def runs(
        self, workspace: str | None = None, limit: int = 20, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest runs; ``kind`` filters in the query, before the limit."""
        q = sa.select(t.runs).order_by(t.runs.c.started_at.desc()).limit(limit)
        if workspace:
            q = q.where(t.runs.c.workspace == workspace)
        if kind:
            q = q.where(t.runs.c.kind == kind)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # -- journal -------------------------------------------------------------
    def append_operation(self, conn: Connection, row: dict[str, Any]) -> None:
        """Append one journal row to the chain, in the caller's transaction."""
        row = {**row, "at": row.get("at") or now()}
        conn.execute(_INSERT_OPERATION, {**row, **self._append(conn, "operations", row)})

    def _may_append(self, conn: Connection) -> bool:
        key = conn.execute(
            sa.select(t.journal_head.c.key_id).where(t.journal_head.c.name == "main")
        ).scalar()
        return key is None or key == self.key_id

    def _append(self, conn: Connection, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Take the next place in the chain; return the chain columns for ``row``.

        The head moves by compare-and-set in the caller's transaction: it succeeds only
        from the position the hash was computed from, and then holds the head row (a
        row lock on PostgreSQL, the write lock on SQLite) until the transaction ends,
        so appenders in any number of processes extend one chain in one order. This
        process remembers the head it moved last, so the usual append (one writer) is
        one UPDATE and one INSERT; when another writer moved it, the head is read
        again and the hash recomputed.
        """
        head = self._head_cache
        while True:
            if head is None:
                head = tuple(conn.execute(_HEAD_READ).one())
            old_seq, prev, key_id = head
            if key_id is not None and key_id != self.key_id:
                raise AuditKeyError(
                    "the audit journal is HMAC-chained with another key than SCIMCTL_AUDIT_KEY"
                )
            seq = old_seq + 1
            entry = {**row, "seq": seq, "key_id": self.key_id}
            digest, seal = chain.hash_and_seal(prev, table, entry, self.audit_key)
            values = {
                "b_old": old_seq, "b_prev": prev, "b_seq": seq, "b_hash": digest,
                "b_key_id": self.key_id,
            }  # fmt: skip
            if conn.execute(_HEAD_MOVE, values).rowcount == 1:
                break
            head = None  # another writer moved it: read it again
        self._head_cache = (seq, digest, self.key_id)
        return {
            "seq": seq,
            "key_id": self.key_id,
            "prev_hash": prev,
            "hash": digest,
            "seal": seal,
        }

    def operations(self, **where: Any) -> list[dict[str, Any]]:
        q = sa.select(t.operations).order_by(t.operations.c.id)
        for key, value in where.items():
            q = q.where(t.operations.c[key] == value)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # -- runs that died --------------------------------------------------------------
    def close_dead_runs(
        self, workspace: str, notify: Callable[[str], None], keep: str | None = None
    ) -> list[str]:
        """Close every run of this workspace whose process on this host is gone.

        Called by whoever takes the lock, so that no run stays ``running``: one that
        held the lock (or sent anything) ends ``crashed``, one that died waiting for
        it ends ``abandoned``. Runs on other hosts cannot be checked from here; their
        lock, once released with ``state unlock``, closes them.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.runs.c.id, t.runs.c.host, t.runs.c.pid).where(
                    (t.runs.c.workspace == workspace) & (t.runs.c.outcome == "running")
                )
            ).all()
        closed = []
        for run_id, host, pid in rows:
            # A run without a pid was started before migration 0002 and so by a process
            # older than the lock we now hold: it is not running any more.
            if run_id != keep and (pid is None or process_is_gone(host, pid)):
                self.close_run(run_id, notify)
                closed.append(run_id)
        return closed

    def unfinished_operations(self, conn: Connection, run_id: str) -> list[dict[str, Any]]:
        """Operations of a run that were sent (intent journaled) but have no result."""
        o = t.operations
        done = sa.select(o.c.action_id).where((o.c.run_id == run_id) & (o.c.phase == "result"))
        q = (
            sa.select(o)
            .where((o.c.run_id == run_id) & (o.c.phase == "intent") & o.c.action_id.not_in(done))
            .order_by(o.c.id)
        )
        return [dict(r._mapping) for r in conn.execute(q)]

    def close_run(self, run_id: str, notify: Callable[[str], None]) -> str | None:
        """End a dead run: ``crashed`` with its unfinished operations, or ``abandoned``."""
        with self.tx() as conn:
            run = conn.execute(
                sa.select(t.runs).where((t.runs.c.id == run_id) & (t.runs.c.outcome == "running"))
            ).first()
            if run is None:
                return None
            unfinished = self.unfinished_operations(conn, run_id)
            sent = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.operations)
                .where(t.operations.c.run_id == run_id)
            ).scalar()
            if run.kind == "apply" and run.locked_at is None and not sent:
                outcome = "abandoned"
                error = "the process ended while waiting for the state lock; nothing was sent"
            else:
                outcome = "crashed"
                error = f"the process (pid {run.pid} on {run.host}) ended before the run finished"
                if unfinished:
                    error += (
                        f"; {count(len(unfinished), 'operation was', 'operations were')} sent "
                        "but never finished "
                        "(outcome unknown; the next plan reconciles them)"
                    )
            summary = {
                "unfinished": [
                    {k: op[k] for k in ("action_id", "action", "user_name", "method", "path")}
                    for op in unfinished
                ]
            }
            self._finish(conn, run_id, outcome, summary, error, None)
        message = f"run {run_id} ({run.kind}, started {iso(run.started_at)}) {outcome}: {error}"
        for op in unfinished:
            message += f"\n  outcome unknown: {op['action_id']} ({op['method']} {op['path']})"
        notify(message)
        return outcome

    def put_metrics(self, run_id: str, values: dict[str, float]) -> None:
        with self.tx() as conn:
            conn.execute(t.metrics.delete().where(t.metrics.c.run_id == run_id))
            if values:
                conn.execute(
                    t.metrics.insert(),
                    [
                        {"run_id": run_id, "name": k, "value": float(v)}
                        for k, v in sorted(values.items())
                    ],
                )
