"""The state's small interfaces, split by concern as Terraform's ``statemgr`` is.

``apply`` and the executor need four things from the database: the managed state
(read it, move its serial, record users, groups and memberships), a lock that keeps
one apply per workspace, a run log with the journal of every operation, and the HRIS
outbox. Typing them against these protocols rather than the SQLAlchemy ``Store``
means the scheduling, the dependency graph and quarantine can be tested against the
in-memory fakes in :mod:`scimctl.state.memory`, and another backend only has to
provide these methods. ``Store`` satisfies all of them structurally (a test checks).

State writes take a ``conn``: the transaction handle that ``tx()`` yields. A journal
row, the state change and the outbox event of one operation are written with the
same handle, so they land together or not at all; what the handle is belongs to the
backend (a SQLAlchemy ``Connection`` for ``Store``).

The protocols themselves use no I/O library (``scimctl.state``'s package import does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from scimctl.model import StateView
from scimctl.state.clock import iso

__all__ = [
    "ApplyStore",
    "AuditLog",
    "ExecutorStore",
    "Journal",
    "LockInfo",
    "Locker",
    "MetricAggregates",
    "MetricsReader",
    "ManagedRecords",
    "Outbox",
    "OutboxReader",
    "StateStore",
    "Transactions",
]

# A transaction handle from ``Transactions.tx``; opaque to everyone but its backend.
Conn = Any


@dataclass(frozen=True)
class LockInfo:
    """Who holds a workspace's state lock, as Terraform's ``statemgr.LockInfo`` says it.

    The SQL lock row stores these as columns (migration 0003), so callers deciding
    whether a holder is dead, or telling a waiting user who holds the lock, read
    fields; nothing builds a holder string to parse it back.
    """

    id: str | None  # the run holding the lock (``runs.id``), when it was taken for one
    workspace: str
    who: str  # the actor: CI user (GITHUB_ACTOR) or login name
    operation: str | None  # the run's kind: apply, import, state-rm, ...
    created: datetime  # when the lock was taken
    host: str | None = None
    pid: int | None = None
    # This acquisition's identity: release deletes the row only while it carries it.
    token: str | None = field(default=None, repr=False)

    @property
    def holder(self) -> str:
        """``who@host pid N``: how messages name the holder."""
        where = f"{self.who}@{self.host}" if self.host else self.who
        return f"{where} pid {self.pid}" if self.pid is not None else where

    def describe(self) -> str:
        """``who@host pid N since <time> (run <id>)``, as lock messages say it."""
        return f"{self.holder} since {iso(self.created)} (run {self.id})"


@runtime_checkable
class Transactions(Protocol):
    """One write transaction at a time per process; what it yields is passed back to
    the write methods of the other interfaces, so one operation's rows commit together."""

    def tx(self) -> AbstractContextManager[Conn]: ...


@runtime_checkable
class StateStore(Transactions, Protocol):
    """The managed state: what scimctl created or adopted, by workspace."""

    def state(self, workspace: str) -> StateView: ...

    def begin_apply(self, workspace: str, lineage: str, serial: int) -> tuple[str, int]:
        """Refuse (``StaleState``) unless the state is at (lineage, serial); move the serial."""
        ...

    def put_user(
        self, conn: Conn, workspace: str, key: str, live_id: str, user_name: str,
        attrs: dict[str, Any], version: str | None,
    ) -> None:  # fmt: skip
        """Record ``key``'s account and applied attributes; fields another action kind
        owns (``scimctl.state.applied.CARRIED``) and ``attrs`` lacks are kept."""
        ...

    def put_users(
        self, conn: Conn, workspace: str,
        users: list[tuple[str, str, str, dict[str, Any], str | None]],
    ) -> None:  # fmt: skip
        """Many ``put_user`` at once, (key, live id, userName, attrs, version) each:
        import records a whole directory, and one statement beats thousands. Each
        record is what import observed and replaces the old one whole."""
        ...

    def drop_user(self, conn: Conn, workspace: str, key: str) -> None: ...

    def drop_group(self, conn: Conn, workspace: str, name: str) -> None: ...

    def put_memberships(
        self, conn: Conn, workspace: str, group: str, group_id: str,
        add: list[str], remove: list[str],
    ) -> None: ...  # fmt: skip

    def sync_memberships(
        self, workspace: str, groups: dict[str, tuple[str, list[str]]], declared: set[str]
    ) -> None:
        """After an apply: each fully applied group's members; undeclared groups go."""
        ...


@runtime_checkable
class ManagedRecords(Protocol):
    """What ``scimctl state show`` reads: the state and the managed users' rows."""

    def state(self, workspace: str) -> StateView: ...

    def managed_user_rows(self, workspace: str) -> list[dict[str, Any]]:
        """Each managed user's columns (key, live_id, user_name, attrs, version,
        updated_at), by key."""
        ...


@runtime_checkable
class Locker(Protocol):
    """One apply per workspace, across processes and hosts."""

    def lock(
        self,
        workspace: str,
        run_id: str | None = None,
        timeout: float = 0.0,
        poll: float = 0.25,
        notify: Callable[[str], None] | None = None,
    ) -> AbstractContextManager[None]:
        """Hold the lock for the ``with`` block; ``LockError`` after ``timeout`` seconds."""
        ...

    def lock_holder(self, workspace: str) -> LockInfo | None: ...

    def unlock(
        self, workspace: str, notify: Callable[[str], None] | None = None
    ) -> LockInfo | None:
        """Release whoever holds it (the operator says it is dead); its run ends crashed."""
        ...


@runtime_checkable
class Journal(Transactions, Protocol):
    """The run log and the append-only journal of operations (the audit history)."""

    def start_run(
        self,
        workspace: str,
        kind: str,
        manifest_digest: str | None = None,
        plan_digest: str | None = None,
    ) -> str: ...

    def finish_run(
        self,
        run_id: str,
        outcome: str,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
        plan_digest: str | None = None,
    ) -> None: ...

    def append_operation(self, conn: Conn, row: dict[str, Any]) -> None:
        """One journal row (intent before a request, result after), in ``conn``'s tx."""
        ...

    def put_metrics(self, run_id: str, values: dict[str, float]) -> None: ...


@runtime_checkable
class Outbox(Protocol):
    """HRIS events, written with the state change they announce, delivered later."""

    def add_event(self, conn: Conn, workspace: str, run_id: str, payload: dict[str, Any]) -> str:
        """Queue one event; returns its id (also set as the payload's ``event_id``)."""
        ...


@runtime_checkable
class OutboxReader(Protocol):
    """What delivery reads and marks: pending events, oldest first (``scimctl.records.hris``)."""

    def pending_events(self, workspace: str | None, limit: int) -> list[tuple[int, Any]]: ...

    def events_failed(self, ids: list[int], error: str) -> None: ...

    def events_delivered(self, ids: list[int]) -> None: ...

    def pending_count(self, workspace: str | None) -> int: ...


@runtime_checkable
class AuditLog(Protocol):
    """What the audit history reads (``scimctl.records.history``): the chain's entries in order,
    and the journal and run log filtered. Rows are plain dicts of the table's columns.

    ``audit_key``/``key_id`` are the HMAC key the reader verifies with and its
    fingerprint (None: a plain SHA-256 chain).
    """

    @property
    def audit_key(self) -> str | None: ...

    @property
    def key_id(self) -> str | None: ...

    def chain_entries(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(seq, table, row) of every chained journal row and run, in chain order."""
        ...

    def legacy_operations(self) -> Iterator[dict[str, Any]]:
        """Journal rows from before the chain (migration 0002), oldest first."""
        ...

    def chain_head(self) -> tuple[int, str] | None:
        """(seq, hash) as the head row says; None when the head row is gone."""
        ...

    def unchained_runs(self) -> list[tuple[str, str]]:
        """(id, kind) of runs that ended after the chain existed but are not in it."""
        ...

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
        """Results (and intents without one), newest first, joined with their run's
        ``actor``, ``ci``, ``plan_digest``, ``run_kind`` and ``run_outcome``.

        ``user`` is any externalId or userName the account ever had; every filter is
        applied before ``limit``.
        """
        ...

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
        """Runs, newest first, each with ``operations``: how many it sent."""
        ...

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run by id or unique prefix."""
        ...

    def metrics(self, run_id: str) -> dict[str, float]: ...


@dataclass
class MetricAggregates:
    """Totals over every recorded run, per workspace, for the Prometheus export.

    Each list is ordered by workspace, then by the other labels.
    """

    # (workspace, kind, outcome, runs, when the last of them ended)
    runs: list[tuple[str, str, str | None, int, datetime | None]]
    # (workspace, action, outcome, results)
    operations: list[tuple[str, str, str | None, int]]
    # (workspace, action, count, total seconds, cumulative count per bucket bound)
    latency: list[tuple[str, str, int, float, list[int]]]
    # (workspace, per-run metric name, sum over apply runs, apply runs with it)
    totals: list[tuple[str, str, float, int]]
    # (workspace, managed users)
    managed_users: list[tuple[str, int]]
    # (workspace, summary of its newest plan, whether an apply ran that plan to success)
    newest_plans: list[tuple[str, dict[str, Any] | None, bool]]
    # (workspace, summary of its newest finished drift check)
    newest_drift: list[tuple[str, Any]]


@runtime_checkable
class MetricsReader(Protocol):
    """What the Prometheus export reads (``scimctl.records.metrics``), in one go."""

    def metric_aggregates(
        self, workspace: str | None, buckets: tuple[float, ...], names: list[str]
    ) -> MetricAggregates:
        """Aggregates of one workspace (None: all); ``buckets`` are latency bounds in
        seconds, ``names`` the per-run metrics to total over apply runs."""
        ...


@runtime_checkable
class ExecutorStore(StateStore, Journal, Outbox, Protocol):
    """What the executor writes through: state, journal and outbox in one transaction."""


@runtime_checkable
class ApplyStore(ExecutorStore, Locker, Protocol):
    """What ``apply_plan`` needs: the executor's store plus the lock and the run log."""
