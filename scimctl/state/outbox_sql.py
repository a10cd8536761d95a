"""The HRIS outbox in SQL: events written with the state change they announce.

Implements ``Outbox`` (the executor queues an event in its journal transaction) and
``OutboxReader`` (``scimctl.records.hris`` delivers pending events later and marks them).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from scimctl.state import tables as t
from scimctl.state.clock import now
from scimctl.state.db import Database


class SqlOutbox:
    """Pending and delivered HRIS events."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = db.engine
        self.tx = db.tx

    @staticmethod
    def add_event(conn: Connection, workspace: str, run_id: str, payload: dict[str, Any]) -> str:
        event_id = str(uuid.uuid4())
        conn.execute(
            t.outbox.insert().values(
                event_id=event_id,
                workspace=workspace,
                run_id=run_id,
                payload={**payload, "event_id": event_id},
                created_at=now(),
                status="pending",
                attempts=0,
            )
        )
        return event_id

    def pending_events(self, workspace: str | None, limit: int) -> list[tuple[int, Any]]:
        """The oldest undelivered events (id, payload), of one workspace or all."""
        q = sa.select(t.outbox.c.id, t.outbox.c.payload).where(t.outbox.c.status == "pending")
        if workspace:
            q = q.where(t.outbox.c.workspace == workspace)
        with self.engine.connect() as conn:
            return [(r.id, r.payload) for r in conn.execute(q.order_by(t.outbox.c.id).limit(limit))]

    def events_failed(self, ids: list[int], error: str) -> None:
        """One more failed delivery attempt of these events (the error is already masked)."""
        with self.tx() as conn:
            conn.execute(
                t.outbox.update()
                .where(t.outbox.c.id.in_(ids))
                .values(attempts=t.outbox.c.attempts + 1, last_error=error)
            )

    def events_delivered(self, ids: list[int]) -> None:
        with self.tx() as conn:
            conn.execute(
                t.outbox.update()
                .where(t.outbox.c.id.in_(ids))
                .values(status="delivered", delivered_at=now(), attempts=t.outbox.c.attempts + 1)
            )

    def pending_count(self, workspace: str | None) -> int:
        q = sa.select(sa.func.count()).select_from(t.outbox).where(t.outbox.c.status == "pending")
        if workspace:
            q = q.where(t.outbox.c.workspace == workspace)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)
