"""The state lock in SQL: one row per workspace, one apply per workspace.

Implements ``Locker``. The row holds the holder as columns (who, host, pid, the run
and its operation) and a token made for this acquisition: release deletes the row
only while it still carries that token, so a holder whose lock was broken (it was
declared dead) can never release someone else's. A row whose process ran on this
host and no longer exists is broken automatically; one from another host needs
``state unlock``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scimctl.state import tables as t
from scimctl.state.clock import now
from scimctl.state.context import actor, hostname, process_is_gone
from scimctl.state.db import Database
from scimctl.state.interfaces import LockInfo
from scimctl.state.journal_sql import SqlJournal
from scimctl.state.rules import wait_for_lock


def _info(row: Any) -> LockInfo:
    return LockInfo(
        row.run_id, row.workspace, row.who, row.operation, row.acquired_at,
        host=row.host, pid=row.pid, token=row.token,
    )  # fmt: skip


class SqlLocker:
    """The lock rows; closing the runs of dead holders goes through the journal."""

    def __init__(self, db: Database, journal: SqlJournal) -> None:
        self.db = db
        self.journal = journal

    def lock_holder(self, workspace: str) -> LockInfo | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(t.locks).where(t.locks.c.workspace == workspace)).first()
        return _info(row) if row else None

    @contextmanager
    def lock(
        self,
        workspace: str,
        run_id: str | None = None,
        timeout: float = 0.0,
        poll: float = 0.25,
        notify: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Hold the workspace's lock row, waiting up to ``timeout`` seconds for it."""
        notify = notify or (lambda message: None)
        token = str(uuid.uuid4())

        def take() -> LockInfo | None:
            while True:
                try:
                    self._insert(workspace, token, run_id)
                    return None
                except IntegrityError:
                    info = self.lock_holder(workspace)
                    if info is None:
                        continue  # released meanwhile: try again
                    if not process_is_gone(info.host, info.pid):
                        return info
                    self._break(info, notify)
                    notify(f"released the lock of {info.holder}, which no longer runs")

        wait_for_lock(workspace, take, timeout=timeout, poll=poll, notify=notify)
        try:
            self.journal.close_dead_runs(workspace, notify, keep=run_id)
            yield
        finally:
            self._delete(workspace, token)

    def _insert(self, workspace: str, token: str, run_id: str | None) -> None:
        with self.db.tx() as conn:
            stamp = now()
            kind = None
            if run_id:
                kind = conn.execute(sa.select(t.runs.c.kind).where(t.runs.c.id == run_id)).scalar()
            conn.execute(
                t.locks.insert().values(
                    workspace=workspace,
                    token=token,
                    run_id=run_id,
                    operation=kind,
                    who=actor(),
                    host=hostname(),
                    pid=os.getpid(),
                    acquired_at=stamp,
                )  # fmt: skip
            )
            if run_id:
                conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(locked_at=stamp))

    def _delete(self, workspace: str, token: str | None) -> None:
        """Delete the lock row only if it is still this acquisition's."""
        with self.db.tx() as conn:
            conn.execute(
                t.locks.delete().where(
                    (t.locks.c.workspace == workspace) & (t.locks.c.token == token)
                )
            )

    def _break(self, info: LockInfo, notify: Callable[[str], None]) -> None:
        self._delete(info.workspace, info.token)
        if info.id:
            self.journal.close_run(info.id, notify)

    def unlock(
        self, workspace: str, notify: Callable[[str], None] | None = None
    ) -> LockInfo | None:
        """Release the lock; the operator says its run is dead, so it is closed as crashed."""
        info = self.lock_holder(workspace)
        if info is None:
            return None
        self._delete(workspace, info.token)
        if info.id:
            self.journal.close_run(info.id, notify or (lambda message: None))
        return info
