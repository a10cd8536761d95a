"""The managed state in SQL: what scimctl created or adopted, by workspace.

Implements ``StateStore`` (with ``Store.tx``): the reads ``plan`` makes, the serial
``begin_apply`` moves, and the row changes the executor writes inside a journal
transaction (``conn``), so the state change and its journal row commit together.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from scimctl.model import ManagedUser, StateView
from scimctl.state import tables as t
from scimctl.state.applied import carried_over
from scimctl.state.clock import now
from scimctl.state.db import Database
from scimctl.state.rules import refuse_stale

_USER_VALUES: dict[str, Any] = {
    c: sa.bindparam(f"b_{c}") for c in ("live_id", "user_name", "attrs", "version", "updated_at")
}
_UPDATE_USER = (
    t.managed_users.update()
    .where(
        (t.managed_users.c.workspace == sa.bindparam("b_ws"))
        & (t.managed_users.c.key == sa.bindparam("b_key"))
    )
    .values(**_USER_VALUES)
)
_INSERT_USER = t.managed_users.insert().values(
    workspace=sa.bindparam("b_ws"), key=sa.bindparam("b_key"), **_USER_VALUES
)


class SqlState:
    """Workspaces, managed users, groups and memberships."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = db.engine
        self.tx = db.tx

    def state(self, workspace: str) -> StateView:
        with self.engine.connect() as conn:
            ws = conn.execute(
                sa.select(t.workspaces).where(t.workspaces.c.name == workspace)
            ).first()
            if ws is None:
                return StateView.empty()
            users: dict[str, ManagedUser] = {}
            applied: dict[str, dict[str, Any]] = {}
            for r in conn.execute(
                sa.select(t.managed_users).where(t.managed_users.c.workspace == workspace)
            ):
                users[r.key] = ManagedUser(r.live_id, r.user_name, r.version)
                applied[r.key] = r.attrs if isinstance(r.attrs, dict) else {}
            groups = {
                r.name: r.live_id
                for r in conn.execute(
                    sa.select(t.managed_groups).where(t.managed_groups.c.workspace == workspace)
                )
            }
            members = frozenset(
                (r.group_name, r.user_key)
                for r in conn.execute(
                    sa.select(t.memberships).where(t.memberships.c.workspace == workspace)
                )
            )
        return StateView(ws.lineage, ws.serial, users, groups, members, applied)

    def managed_user_rows(self, workspace: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.managed_users)
                .where(t.managed_users.c.workspace == workspace)
                .order_by(t.managed_users.c.key)
            )
            return [dict(r._mapping) for r in rows]

    def workspaces(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(sa.select(t.workspaces.c.name).order_by(t.workspaces.c.name)).scalars()
            )

    def begin_apply(self, workspace: str, lineage: str, serial: int) -> tuple[str, int]:
        """Check the plan's view of state is current, then move the serial.

        Moving it first means a crash part-way leaves any other plan computed
        against the old state stale, as it should be.
        """
        with self.tx() as conn:
            ws = conn.execute(
                sa.select(t.workspaces).where(t.workspaces.c.name == workspace)
            ).first()
            refuse_stale((ws.lineage, ws.serial) if ws else ("", 0), lineage, serial)
            stamp = now()
            if ws is None:
                lineage = str(uuid.uuid4())
                conn.execute(
                    t.workspaces.insert().values(
                        name=workspace,
                        lineage=lineage,
                        serial=1,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
                return lineage, 1
            conn.execute(
                t.workspaces.update()
                .where(t.workspaces.c.name == workspace)
                .values(serial=serial + 1, updated_at=stamp)
            )
            return lineage, serial + 1

    @staticmethod
    def put_user(
        conn: Connection, workspace: str, key: str, live_id: str, user_name: str,
        attrs: dict[str, Any], version: str | None,
    ) -> None:  # fmt: skip
        ut = t.managed_users
        before = conn.execute(
            sa.select(ut.c.attrs).where((ut.c.workspace == workspace) & (ut.c.key == key))
        ).scalar()
        values = {
            "b_ws": workspace, "b_key": key, "b_live_id": live_id, "b_user_name": user_name,
            "b_attrs": carried_over(before, attrs), "b_version": version, "b_updated_at": now(),
        }  # fmt: skip
        if conn.execute(_UPDATE_USER, values).rowcount == 0:
            conn.execute(_INSERT_USER, values)

    @staticmethod
    def put_users(
        conn: Connection,
        workspace: str,
        users: list[tuple[str, str, str, dict[str, Any], str | None]],
    ) -> None:
        """Many (key, live_id, user_name, attrs, version) at once (import): new keys go
        in as one executemany insert, existing ones are updated one by one. Each record
        is what import observed, replaced whole (nothing carried over)."""
        ut = t.managed_users
        existing = set(
            conn.execute(sa.select(ut.c.key).where(ut.c.workspace == workspace)).scalars()
        )
        stamp = now()
        rows = [
            {
                "b_ws": workspace, "b_key": k, "b_live_id": i, "b_user_name": n,
                "b_attrs": a, "b_version": v, "b_updated_at": stamp,
            }
            for k, i, n, a, v in users
        ]  # fmt: skip
        new = [r for r in rows if r["b_key"] not in existing]
        if new:
            conn.execute(_INSERT_USER, new)
        for r in rows:
            if r["b_key"] in existing:
                conn.execute(_UPDATE_USER, r)

    @staticmethod
    def drop_user(conn: Connection, workspace: str, key: str) -> None:
        conn.execute(
            t.managed_users.delete().where(
                (t.managed_users.c.workspace == workspace) & (t.managed_users.c.key == key)
            )
        )
        conn.execute(
            t.memberships.delete().where(
                (t.memberships.c.workspace == workspace) & (t.memberships.c.user_key == key)
            )
        )

    @staticmethod
    def drop_group(conn: Connection, workspace: str, name: str) -> None:
        """Stop managing a group: its row and the managed memberships recorded in it."""
        mt, gt = t.memberships, t.managed_groups
        conn.execute(mt.delete().where((mt.c.workspace == workspace) & (mt.c.group_name == name)))
        conn.execute(gt.delete().where((gt.c.workspace == workspace) & (gt.c.name == name)))

    @staticmethod
    def put_memberships(
        conn: Connection,
        workspace: str,
        group: str,
        group_id: str,
        add: list[str],
        remove: list[str],
    ) -> None:
        ws, mt, gt = workspace, t.memberships, t.managed_groups
        done = conn.execute(
            gt.update()
            .where((gt.c.workspace == ws) & (gt.c.name == group))
            .values(live_id=group_id, updated_at=now())
        )
        if done.rowcount == 0:
            conn.execute(
                gt.insert().values(workspace=ws, name=group, live_id=group_id, updated_at=now())
            )
        if remove:
            conn.execute(
                mt.delete().where(
                    (mt.c.workspace == ws) & (mt.c.group_name == group) & mt.c.user_key.in_(remove)
                )
            )
        existing = set(
            conn.execute(
                sa.select(mt.c.user_key).where((mt.c.workspace == ws) & (mt.c.group_name == group))
            ).scalars()
        )
        new = [k for k in dict.fromkeys(add) if k not in existing]
        if new:
            conn.execute(
                mt.insert(), [{"workspace": ws, "group_name": group, "user_key": k} for k in new]
            )

    def sync_memberships(
        self, workspace: str, groups: dict[str, tuple[str, list[str]]], declared: set[str]
    ) -> None:
        """Record each group's managed members after an apply; forget undeclared groups.

        ``groups`` holds only the groups whose changes all went through; the others
        keep what the journal's incremental updates left.
        """
        ws, mt, gt = workspace, t.memberships, t.managed_groups
        with self.tx() as conn:
            gone = sa.select(gt.c.name).where((gt.c.workspace == ws) & gt.c.name.not_in(declared))
            for name in list(conn.execute(gone).scalars()):
                conn.execute(mt.delete().where((mt.c.workspace == ws) & (mt.c.group_name == name)))
                conn.execute(gt.delete().where((gt.c.workspace == ws) & (gt.c.name == name)))
            for name, (group_id, keys) in sorted(groups.items()):
                conn.execute(mt.delete().where((mt.c.workspace == ws) & (mt.c.group_name == name)))
                self.put_memberships(conn, ws, name, group_id, keys, [])
