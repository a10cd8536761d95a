"""The state store: one object over SQLite and PostgreSQL, built from small parts.

``Store(url)`` is what callers construct; it composes one SQL component per
interface of :mod:`scimctl.state.interfaces`, all on one :class:`Database` (one
connection pool, one in-process write lock):

- :class:`~scimctl.state.state_sql.SqlState`: the managed state (``StateStore``);
- :class:`~scimctl.state.lock_sql.SqlLocker`: the state lock (``Locker``);
- :class:`~scimctl.state.journal_sql.SqlJournal`: runs, the chained journal, metrics
  (``Journal``);
- :class:`~scimctl.state.outbox_sql.SqlOutbox`: HRIS events (``Outbox``,
  ``OutboxReader``);
- :class:`~scimctl.state.audit_sql.SqlAuditLog`: what the audit history reads
  (``AuditLog``);
- :class:`~scimctl.state.metrics_sql.SqlMetricsReader`: what the Prometheus export
  reads (``MetricsReader``).

The methods below only delegate, so ``Store`` satisfies the write-side protocols
structurally (a test checks). The read sides that only one reader uses are handed
over as the part itself: ``store.audit`` to :mod:`scimctl.records.history` and
``store.telemetry`` to the Prometheus export.
Migrations run on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.engine import Connection

from scimctl.errors import LockError, StaleState
from scimctl.model import StateView
from scimctl.state.audit_sql import SqlAuditLog
from scimctl.state.chain import GENESIS
from scimctl.state.clock import iso, now
from scimctl.state.context import actor, ci_context
from scimctl.state.db import SCHEMA_HEAD, Database, make_engine, migrations_config
from scimctl.state.interfaces import LockInfo
from scimctl.state.journal_sql import SqlJournal
from scimctl.state.lock_sql import SqlLocker
from scimctl.state.metrics_sql import SqlMetricsReader
from scimctl.state.outbox_sql import SqlOutbox
from scimctl.state.state_sql import SqlState

__all__ = [
    "GENESIS",
    "SCHEMA_HEAD",
    "LockError",
    "LockInfo",
    "StaleState",
    "Store",
    "actor",
    "ci_context",
    "iso",
    "make_engine",
    "migrations_config",
    "now",
]


class Store:
    """State, lock, runs, journal, metrics and outbox for every workspace in one database."""

    def __init__(
        self, url: str, *, upgrade: bool = True, audit_key: str | None = None, create: bool = True
    ) -> None:
        """``audit_key`` makes the journal an HMAC chain (the CLI passes
        ``SCIMCTL_AUDIT_KEY`` from its :class:`~scimctl.config.Config`).

        ``create=False`` refuses a state that does not exist yet (commands that only
        read): a mistyped location must not quietly become a new, empty state.
        """
        from scimctl.state.location import missing, prepare_directory, state_exists

        if not create and not state_exists(url):
            raise missing(url)
        prepare_directory(url, create=create)
        self.url = url
        self.db = Database(url)
        self.engine = self.db.engine
        self.managed = SqlState(self.db)
        self.journal = SqlJournal(self.db, audit_key)
        self.locker = SqlLocker(self.db, self.journal)
        self.outbox = SqlOutbox(self.db)
        self.audit = SqlAuditLog(self.db, audit_key, self.journal.key_id)
        self.telemetry = SqlMetricsReader(self.db)
        if upgrade:
            self.upgrade()

    def close(self) -> None:
        self.db.close()

    def revision(self) -> str | None:
        return self.db.revision()

    def upgrade(self) -> None:
        """Migrate to the newest schema; a no-op (without Alembic) when already there."""
        self.db.upgrade()

    def tx(self) -> AbstractContextManager[Connection]:
        """One write transaction; in-process writers take turns."""
        return self.db.tx()

    # -- state (StateStore) ----------------------------------------------------------
    def state(self, workspace: str) -> StateView:
        return self.managed.state(workspace)

    def managed_user_rows(self, workspace: str) -> list[dict[str, Any]]:
        return self.managed.managed_user_rows(workspace)

    def workspaces(self) -> list[str]:
        return self.managed.workspaces()

    def begin_apply(self, workspace: str, lineage: str, serial: int) -> tuple[str, int]:
        return self.managed.begin_apply(workspace, lineage, serial)

    def put_user(
        self, conn: Connection, workspace: str, key: str, live_id: str, user_name: str,
        attrs: dict[str, Any], version: str | None,
    ) -> None:  # fmt: skip
        SqlState.put_user(conn, workspace, key, live_id, user_name, attrs, version)

    def put_users(
        self,
        conn: Connection,
        workspace: str,
        users: list[tuple[str, str, str, dict[str, Any], str | None]],
    ) -> None:
        SqlState.put_users(conn, workspace, users)

    def drop_user(self, conn: Connection, workspace: str, key: str) -> None:
        SqlState.drop_user(conn, workspace, key)

    def drop_group(self, conn: Connection, workspace: str, name: str) -> None:
        SqlState.drop_group(conn, workspace, name)

    def put_memberships(
        self, conn: Connection, workspace: str, group: str, group_id: str,
        add: list[str], remove: list[str],
    ) -> None:  # fmt: skip
        SqlState.put_memberships(conn, workspace, group, group_id, add, remove)

    def sync_memberships(
        self, workspace: str, groups: dict[str, tuple[str, list[str]]], declared: set[str]
    ) -> None:
        self.managed.sync_memberships(workspace, groups, declared)

    # -- lock (Locker) -----------------------------------------------------------------
    def lock(
        self,
        workspace: str,
        run_id: str | None = None,
        timeout: float = 0.0,
        poll: float = 0.25,
        notify: Callable[[str], None] | None = None,
    ) -> AbstractContextManager[None]:
        return self.locker.lock(workspace, run_id, timeout, poll, notify)

    def lock_holder(self, workspace: str) -> LockInfo | None:
        return self.locker.lock_holder(workspace)

    def unlock(
        self, workspace: str, notify: Callable[[str], None] | None = None
    ) -> LockInfo | None:
        return self.locker.unlock(workspace, notify)

    # -- runs and journal (Journal) ------------------------------------------------------
    def start_run(
        self,
        workspace: str,
        kind: str,
        manifest_digest: str | None = None,
        plan_digest: str | None = None,
    ) -> str:
        return self.journal.start_run(workspace, kind, manifest_digest, plan_digest)

    def finish_run(
        self,
        run_id: str,
        outcome: str,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
        plan_digest: str | None = None,
    ) -> None:
        self.journal.finish_run(run_id, outcome, summary, error, plan_digest)

    def check_audit_key(self, kind: str = "apply") -> None:
        self.journal.check_audit_key(kind)

    def journal_head(self) -> tuple[int, str, str | None]:
        return self.journal.journal_head()

    def append_operation(self, conn: Connection, row: dict[str, Any]) -> None:
        self.journal.append_operation(conn, row)

    def operations(self, **where: Any) -> list[dict[str, Any]]:
        return self.journal.operations(**where)

    def runs(
        self, workspace: str | None = None, limit: int = 20, kind: str | None = None
    ) -> list[dict[str, Any]]:
        return self.journal.runs(workspace, limit, kind)

    def run(self, run_id: str) -> dict[str, Any] | None:
        return self.audit.run(run_id)

    def close_dead_runs(
        self, workspace: str, notify: Callable[[str], None], keep: str | None = None
    ) -> list[str]:
        return self.journal.close_dead_runs(workspace, notify, keep)

    def close_run(self, run_id: str, notify: Callable[[str], None]) -> str | None:
        return self.journal.close_run(run_id, notify)

    def put_metrics(self, run_id: str, values: dict[str, float]) -> None:
        self.journal.put_metrics(run_id, values)

    def metrics(self, run_id: str) -> dict[str, float]:
        return self.audit.metrics(run_id)

    # -- outbox (Outbox, OutboxReader) --------------------------------------------------
    def add_event(
        self, conn: Connection, workspace: str, run_id: str, payload: dict[str, Any]
    ) -> str:
        return SqlOutbox.add_event(conn, workspace, run_id, payload)

    def pending_events(self, workspace: str | None, limit: int) -> list[tuple[int, Any]]:
        return self.outbox.pending_events(workspace, limit)

    def events_failed(self, ids: list[int], error: str) -> None:
        self.outbox.events_failed(ids, error)

    def events_delivered(self, ids: list[int]) -> None:
        self.outbox.events_delivered(ids)

    def pending_count(self, workspace: str | None) -> int:
        return self.outbox.pending_count(workspace)
