"""In-memory implementations of the state interfaces, for tests and library users.

They keep everything in dicts and lists, so a unit test of the executor, the graph
or quarantine runs in milliseconds with no database, and its assertions read the
journal, the state and the outbox as plain values. The behaviour that callers rely
on is kept: ``begin_apply`` refuses a stale serial, ``lock`` refuses a second holder,
and ``tx`` commits all of a block's writes or none (the block's writes are undone
when it raises). Nothing is persisted and there is no hash chain.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scimctl import __version__
from scimctl.model import ManagedUser, StateView
from scimctl.state.applied import carried_over
from scimctl.state.chain import GENESIS
from scimctl.state.clock import now
from scimctl.state.context import actor, hostname
from scimctl.state.interfaces import Conn, LockInfo
from scimctl.state.rules import refuse_stale, wait_for_lock

__all__ = ["MemoryStore", "Workspace"]


def _quiet(message: str) -> None:
    pass


@dataclass
class Workspace:
    """One workspace's managed state, as the SQL tables hold it."""

    lineage: str
    serial: int
    users: dict[str, ManagedUser] = field(default_factory=dict)
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)

    def view(self) -> StateView:
        return StateView(
            self.lineage,
            self.serial,
            dict(self.users),
            dict(self.groups),
            frozenset(self.memberships),
            copy.deepcopy(self.applied),
        )


class MemoryStore:
    """State, lock, run log, journal, metrics and outbox in one process's memory.

    Satisfies :class:`~scimctl.state.interfaces.ApplyStore`. The attributes are public
    so tests can look: ``workspaces``, ``runs`` (by id), ``operations`` (journal rows
    in order, each with an ``id``), ``run_metrics`` (by run id), ``events`` (the outbox).
    It also answers the audit history's reads (``AuditLog``), without a chain.
    """

    def __init__(self) -> None:
        self.workspaces: dict[str, Workspace] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.operations: list[dict[str, Any]] = []
        self.run_metrics: dict[str, dict[str, float]] = {}
        self.events: list[dict[str, Any]] = []
        self.locks: dict[str, LockInfo] = {}
        # Reentrant: sync_memberships opens a tx and calls put_memberships inside it.
        self._write = threading.RLock()

    # -- transactions ------------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[Conn]:
        """Writers take turns; a block that raises leaves no trace of its writes."""
        with self._write:
            saved = self._snapshot()
            try:
                yield self
            except BaseException:
                self._restore(saved)
                raise

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            copy.deepcopy(self.workspaces),
            {k: dict(v) for k, v in self.runs.items()},
            len(self.operations),
            copy.deepcopy(self.run_metrics),
            len(self.events),
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        self.workspaces, self.runs, ops, self.run_metrics, events = saved
        del self.operations[ops:]
        del self.events[events:]

    # -- state -------------------------------------------------------------------------
    def state(self, workspace: str) -> StateView:
        with self._write:
            ws = self.workspaces.get(workspace)
            return ws.view() if ws else StateView.empty()

    def begin_apply(self, workspace: str, lineage: str, serial: int) -> tuple[str, int]:
        """As ``Store.begin_apply``: refuse a plan made against another state, then move
        the serial first, so any other plan made against the old one is stale."""
        with self.tx():
            ws = self.workspaces.get(workspace)
            refuse_stale((ws.lineage, ws.serial) if ws else ("", 0), lineage, serial)
            if ws is None:
                ws = self.workspaces[workspace] = Workspace(str(uuid.uuid4()), 0)
            ws.serial += 1
            return ws.lineage, ws.serial

    def _ws(self, workspace: str) -> Workspace:
        # The SQL store writes user rows whether or not begin_apply ran (import does).
        return self.workspaces.setdefault(workspace, Workspace(str(uuid.uuid4()), 0))

    def put_user(
        self, conn: Conn, workspace: str, key: str, live_id: str, user_name: str,
        attrs: dict[str, Any], version: str | None,
    ) -> None:  # fmt: skip
        ws = self._ws(workspace)
        ws.users[key] = ManagedUser(live_id, user_name, version)
        ws.applied[key] = copy.deepcopy(carried_over(ws.applied.get(key), attrs))

    def put_users(
        self, conn: Conn, workspace: str,
        users: list[tuple[str, str, str, dict[str, Any], str | None]],
    ) -> None:  # fmt: skip
        ws = self._ws(workspace)
        for key, live_id, user_name, attrs, version in users:
            ws.users[key] = ManagedUser(live_id, user_name, version)
            ws.applied[key] = copy.deepcopy(attrs)

    def drop_user(self, conn: Conn, workspace: str, key: str) -> None:
        ws = self._ws(workspace)
        ws.users.pop(key, None)
        ws.applied.pop(key, None)
        ws.memberships = {(g, u) for g, u in ws.memberships if u != key}

    def drop_group(self, conn: Conn, workspace: str, name: str) -> None:
        ws = self._ws(workspace)
        ws.groups.pop(name, None)
        ws.memberships = {(g, u) for g, u in ws.memberships if g != name}

    def put_memberships(
        self, conn: Conn, workspace: str, group: str, group_id: str,
        add: list[str], remove: list[str],
    ) -> None:  # fmt: skip
        ws = self._ws(workspace)
        ws.groups[group] = group_id
        ws.memberships -= {(group, k) for k in remove}
        ws.memberships |= {(group, k) for k in add}

    def sync_memberships(
        self, workspace: str, groups: dict[str, tuple[str, list[str]]], declared: set[str]
    ) -> None:
        with self.tx() as conn:
            ws = self._ws(workspace)
            for name in [g for g in ws.groups if g not in declared]:
                self.drop_group(conn, workspace, name)
            for name, (group_id, keys) in sorted(groups.items()):
                ws.memberships = {(g, u) for g, u in ws.memberships if g != name}
                self.put_memberships(conn, workspace, name, group_id, keys, [])

    # -- lock --------------------------------------------------------------------------
    @contextmanager
    def lock(
        self,
        workspace: str,
        run_id: str | None = None,
        timeout: float = 0.0,
        poll: float = 0.25,
        notify: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Refuse a second holder, after waiting up to ``timeout`` seconds for it."""
        run = self.runs.get(run_id or "")
        mine = LockInfo(
            run_id, workspace, actor(), run["kind"] if run else None, now(),
            host=hostname(), pid=os.getpid(), token=str(uuid.uuid4()),
        )  # fmt: skip

        def take() -> LockInfo | None:
            with self._write:
                held = self.locks.get(workspace)
                if held is None:
                    self.locks[workspace] = mine
                return held

        wait_for_lock(workspace, take, timeout=timeout, poll=poll, notify=notify or _quiet)
        try:
            yield
        finally:
            with self._write:
                if self.locks.get(workspace) is mine:
                    del self.locks[workspace]

    def lock_holder(self, workspace: str) -> LockInfo | None:
        return self.locks.get(workspace)

    def unlock(
        self, workspace: str, notify: Callable[[str], None] | None = None
    ) -> LockInfo | None:
        """As ``Store.unlock``: release the lock; its run, if still going, ends crashed."""
        with self._write:
            info = self.locks.pop(workspace, None)
        run = self.runs.get(info.id or "") if info else None
        if run is not None and run["outcome"] == "running":
            self.finish_run(run["id"], "crashed", error="released with state unlock")
            (notify or (lambda message: None))(f"run {run['id']} ({run['kind']}) crashed")
        return info

    # -- runs and journal ----------------------------------------------------------------
    def start_run(
        self,
        workspace: str,
        kind: str,
        manifest_digest: str | None = None,
        plan_digest: str | None = None,
    ) -> str:
        run_id = str(uuid.uuid4())
        with self.tx():
            self.runs[run_id] = {
                "id": run_id, "workspace": workspace, "kind": kind, "actor": actor(),
                "manifest_digest": manifest_digest, "plan_digest": plan_digest,
                "started_at": now(), "finished_at": None, "outcome": "running",
                "summary": None, "error": None, "scimctl_version": __version__,
            }  # fmt: skip
        return run_id

    def finish_run(
        self,
        run_id: str,
        outcome: str,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
        plan_digest: str | None = None,
    ) -> None:
        with self.tx():
            run = self.runs[run_id]
            run.update(finished_at=now(), outcome=outcome, summary=summary)
            if error is not None:
                run["error"] = error
            if plan_digest is not None:
                run["plan_digest"] = plan_digest

    def append_operation(self, conn: Conn, row: dict[str, Any]) -> None:
        self.operations.append(
            {**row, "id": len(self.operations) + 1, "at": row.get("at") or now()}
        )

    def put_metrics(self, run_id: str, values: dict[str, float]) -> None:
        with self.tx():
            self.run_metrics[run_id] = {k: float(v) for k, v in values.items()}

    # -- audit reads (AuditLog) ---------------------------------------------------------
    audit_key: str | None = None  # no chain, so nothing to verify with
    key_id: str | None = None

    def chain_entries(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        return iter(())

    def legacy_operations(self) -> Iterator[dict[str, Any]]:
        return iter(())

    def chain_head(self) -> tuple[int, str] | None:
        return 0, GENESIS

    def unchained_runs(self) -> list[tuple[str, str]]:
        return []

    def _identities(self, user: str) -> tuple[set[str], set[str]]:
        """As the SQL store: every key and userName the account(s) ever had."""
        needle = user.lower()
        users = [o for o in self.operations if o["resource"] == "user"]
        keys = {
            o["resource_key"]
            for o in users
            if o["resource_key"] == user or (o.get("user_name") or "").lower() == needle
        }
        for ws in self.workspaces.values():
            keys |= {k for k, u in ws.users.items() if k == user or u.user_name.lower() == needle}
        for o in users:
            change = (o.get("changes") or {}).get("userName") or {}
            if needle in (str(v).lower() for v in change.values()):
                keys.add(o["resource_key"])
        names = {needle}
        for o in users:
            if o["resource_key"] in keys:
                names |= {(o.get("user_name") or "").lower()} - {""}
                change = (o.get("changes") or {}).get("userName") or {}
                names |= {v.lower() for v in change.values() if isinstance(v, str)}
        return keys, names

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
        done = {(o["run_id"], o["action_id"]) for o in self.operations if o["phase"] == "result"}
        keys, names = self._identities(user) if user else (set(), set())
        members = [json.dumps(n) for n in sorted(names | keys)]
        out: list[dict[str, Any]] = []
        for o in reversed(self.operations):
            changes = o.get("changes") or {}
            if o["phase"] == "intent" and (o["run_id"], o["action_id"]) in done:
                continue
            if user and not (
                o["resource_key"] in keys
                if o["resource"] == "user"
                else any(m in json.dumps(changes).lower() for m in members)
            ):
                continue
            if group and (o["resource"], o["resource_key"]) != ("group", group):
                continue
            if attribute and changes.get(attribute) is None:
                continue
            if run and not o["run_id"].startswith(run):
                continue
            if (since and o["at"] < since) or (until and o["at"] >= until):
                continue
            if workspace and o["workspace"] != workspace:
                continue
            r = self.runs.get(o["run_id"])
            if r is None:
                continue
            out.append(
                {
                    **copy.deepcopy(o), "actor": r["actor"], "ci": r.get("ci"),
                    "plan_digest": r["plan_digest"], "run_kind": r["kind"],
                    "run_outcome": r["outcome"],
                }
            )  # fmt: skip
            if len(out) >= limit:
                break
        return out

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
        out = []
        for r in sorted(self.runs.values(), key=lambda r: r["started_at"], reverse=True):
            if (kind and r["kind"] != kind) or (outcome and r["outcome"] != outcome):
                continue
            if workspace and r["workspace"] != workspace:
                continue
            if (since and r["started_at"] < since) or (until and r["started_at"] >= until):
                continue
            sent = sum(
                1 for o in self.operations if o["run_id"] == r["id"] and o["phase"] == "intent"
            )
            out.append({**r, "operations": sent})
        return out[:limit]

    def run(self, run_id: str) -> dict[str, Any] | None:
        found = [r for i, r in self.runs.items() if i.startswith(run_id)]
        return dict(found[0]) if len(found) == 1 else None

    def metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.run_metrics.get(run_id, {}))

    # -- outbox ------------------------------------------------------------------------
    def add_event(self, conn: Conn, workspace: str, run_id: str, payload: dict[str, Any]) -> str:
        event_id = str(uuid.uuid4())
        self.events.append(
            {
                "event_id": event_id,
                "workspace": workspace,
                "run_id": run_id,
                "payload": {**payload, "event_id": event_id},
                "created_at": now(),
                "status": "pending",
                "attempts": 0,
            }
        )
        return event_id

    def _pending(self, workspace: str | None) -> list[tuple[int, dict[str, Any]]]:
        return [
            (i, e)
            for i, e in enumerate(self.events)
            if e["status"] == "pending" and (not workspace or e["workspace"] == workspace)
        ]

    def pending_events(self, workspace: str | None, limit: int) -> list[tuple[int, Any]]:
        return [(i, e["payload"]) for i, e in self._pending(workspace)[:limit]]

    def events_failed(self, ids: list[int], error: str) -> None:
        for i in ids:
            self.events[i]["attempts"] += 1
            self.events[i]["last_error"] = error

    def events_delivered(self, ids: list[int]) -> None:
        for i in ids:
            self.events[i].update(status="delivered", delivered_at=now())
            self.events[i]["attempts"] += 1

    def pending_count(self, workspace: str | None) -> int:
        return len(self._pending(workspace))
