"""The state store: one interface over SQLite and PostgreSQL.

Migrations run on first use. Writes from apply's worker threads are serialised by
one in-process lock (cheap next to an HTTP round trip, and it keeps SQLite free of
``database is locked``); across processes the state lock row keeps one apply per
workspace.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from scimctl.errors import AuditKeyError, LockError, StaleState, StateError
from scimctl.model import ManagedUser, StateView
from scimctl.state import chain, interfaces
from scimctl.state import tables as t
from scimctl.state.chain import GENESIS
from scimctl.state.url import normalize_state_url

__all__ = ["GENESIS", "LockError", "LockInfo", "StaleState", "Store", "now"]

# The newest migration in migrations/versions (a test keeps the two in step). Knowing
# it lets an up-to-date database skip loading Alembic on every command.
SCHEMA_HEAD = "0002"


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


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str:
    """The one timestamp format people see: ISO 8601, UTC, seconds, ``Z``."""
    if value is None:
        return "-"
    if value.tzinfo is None:  # SQLite gives back the UTC time without its zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor() -> str:
    env = os.environ
    if env.get("GITHUB_ACTOR"):
        return env["GITHUB_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def ci_context() -> dict[str, str]:
    """Where a run came from, when a CI system says so in the environment."""
    env = os.environ
    out: dict[str, str] = {}
    for key, name in (
        ("GITHUB_REPOSITORY", "repository"),
        ("GITHUB_SHA", "commit"),
        ("GITHUB_REF", "ref"),
        ("GITHUB_WORKFLOW", "workflow"),
        ("GITHUB_RUN_ID", "run_id"),
        ("GITHUB_EVENT_NAME", "event"),
        ("CI_COMMIT_SHA", "commit"),
        ("CI_PROJECT_PATH", "repository"),
        ("CI_PIPELINE_ID", "run_id"),
        ("CI_MERGE_REQUEST_IID", "pull_request"),
    ):
        if env.get(key):
            out.setdefault(name, env[key])
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/pull/"):
        out["pull_request"] = ref.split("/")[2]
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        out["run_url"] = (
            f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        )
    return out


def _process_is_gone(host: str | None, pid: int | str | None) -> bool:
    """True only when the process ran on this host and no longer exists."""
    if host != socket.gethostname() or not str(pid or "").isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # type: ignore[arg-type]
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _holder_is_dead(holder: str) -> bool:
    who, _, pid = holder.rpartition(" pid ")
    return _process_is_gone(who.rpartition("@")[2], pid)


@dataclass
class LockInfo:
    workspace: str
    holder: str
    run_id: str | None
    acquired_at: datetime


def migrations_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    import scimctl.migrations as mig  # type: ignore[import-not-found]

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(mig.__file__).parent))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def make_engine(url: str) -> Engine:
    url = normalize_state_url(url)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {path.parent} for the state: {exc.strerror}") from exc
    sqlite = url.startswith("sqlite")
    # A server connection can drop between commands; a SQLite file cannot.
    engine = sa.create_engine(url, pool_pre_ping=not sqlite)
    if sqlite:

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


class Store:
    """State, runs, journal, metrics and outbox for every workspace in one database."""

    def __init__(self, url: str, *, upgrade: bool = True, audit_key: str | None = None) -> None:
        """``audit_key`` (default: ``SCIMCTL_AUDIT_KEY``) makes the journal an HMAC chain."""
        self.url = url
        self.engine = make_engine(url)
        self._write = threading.Lock()
        if audit_key is None:
            from scimctl.config import environment

            audit_key = environment().get("SCIMCTL_AUDIT_KEY") or None
        self.audit_key = audit_key
        self.key_id = chain.key_id(audit_key)
        self._head_cache: tuple[int, str, str | None] | None = None
        if upgrade:
            self.upgrade()

    def close(self) -> None:
        self.engine.dispose()

    def revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.ProgrammingError:
            return None
        except sa.exc.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise

    def upgrade(self) -> None:
        """Migrate to the newest schema; a no-op (without Alembic) when already there."""
        if self.revision() == SCHEMA_HEAD:
            return
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(migrations_config(conn), "head")

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One write transaction; in-process writers take turns."""
        with self._write, self.engine.begin() as conn:
            yield conn

    # -- state ---------------------------------------------------------------
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
            current = (ws.lineage, ws.serial) if ws else ("", 0)
            if current != (lineage, serial):
                raise StaleState(
                    f"the plan was made against state {lineage or '(new)'} serial {serial}, "
                    f"but the state is now {current[0] or '(new)'} serial {current[1]}; "
                    "run plan again"
                )
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

    # -- lock ----------------------------------------------------------------
    def lock_info(self, workspace: str) -> LockInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.locks).where(t.locks.c.workspace == workspace)).first()
        return LockInfo(row.workspace, row.holder, row.run_id, row.acquired_at) if row else None

    def lock_holder(self, workspace: str) -> interfaces.LockInfo | None:
        """The holder as typed fields (the ``Locker`` interface), named by its run's kind.

        An adapter over ``lock_info``: the lock row and its SQL stay as they are.
        """
        info = self.lock_info(workspace)
        if info is None:
            return None
        run = self.run(info.run_id) if info.run_id else None
        return interfaces.LockInfo.from_holder(
            info.workspace, info.holder, info.run_id, info.acquired_at,
            operation=run["kind"] if run else None,
        )  # fmt: skip

    @contextmanager
    def lock(
        self,
        workspace: str,
        run_id: str | None = None,
        timeout: float = 0.0,
        poll: float = 0.25,
        notify: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Hold the workspace's lock row, waiting up to ``timeout`` seconds for it.

        A lock left by a process on this host that no longer exists (killed, crashed)
        is released automatically; one held from another host needs ``state unlock``.
        """
        notify = notify or (lambda message: None)
        holder = f"{actor()}@{socket.gethostname()} pid {os.getpid()}"
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                with self.tx() as conn:
                    stamp = now()
                    conn.execute(
                        t.locks.insert().values(
                            workspace=workspace, holder=holder, run_id=run_id, acquired_at=stamp
                        )
                    )
                    if run_id:
                        conn.execute(
                            t.runs.update().where(t.runs.c.id == run_id).values(locked_at=stamp)
                        )
                break
            except IntegrityError:
                info = self.lock_info(workspace)
                if info is None:
                    continue
                if _holder_is_dead(info.holder):
                    self._break(info, notify)
                    notify(f"released the lock of {info.holder}, which no longer runs")
                    continue
                who = f"{info.holder} since {iso(info.acquired_at)} (run {info.run_id})"
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"state for {workspace} is locked by {who}; if that run crashed, "
                        "release it with `scimctl state unlock`"
                    ) from None
                if not told:
                    notify(f"waiting for the state lock held by {who}")
                    told = True
                time.sleep(poll)
        try:
            self.close_dead_runs(workspace, notify, keep=run_id)
            yield
        finally:
            with self.tx() as conn:
                conn.execute(
                    t.locks.delete().where(
                        (t.locks.c.workspace == workspace) & (t.locks.c.holder == holder)
                    )
                )

    def _break(self, info: LockInfo, notify: Callable[[str], None]) -> None:
        with self.tx() as conn:
            conn.execute(
                t.locks.delete().where(
                    (t.locks.c.workspace == info.workspace) & (t.locks.c.holder == info.holder)
                )
            )
        if info.run_id:
            self.close_run(info.run_id, notify)

    def unlock(
        self, workspace: str, notify: Callable[[str], None] | None = None
    ) -> LockInfo | None:
        """Release the lock; the operator says its run is dead, so it is closed as crashed."""
        info = self.lock_info(workspace)
        with self.tx() as conn:
            conn.execute(t.locks.delete().where(t.locks.c.workspace == workspace))
        if info is not None and info.run_id:
            self.close_run(info.run_id, notify or (lambda message: None))
        return info

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
            if run_id != keep and (pid is None or _process_is_gone(host, pid)):
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
                        f"; {len(unfinished)} operation(s) were sent but never finished "
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
                    host=socket.gethostname(),
                    ci=ci_context() or None,
                    manifest_digest=manifest_digest,
                    plan_digest=plan_digest,
                    started_at=now(),
                    outcome="running",
                    pid=os.getpid(),
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

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.runs).where(t.runs.c.id.startswith(run_id))).all()
        return dict(rows[0]._mapping) if len(rows) == 1 else None

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

    # -- state changes (inside a journal transaction) ---------------------------
    @staticmethod
    def put_user(
        conn: Connection, workspace: str, key: str, live_id: str, user_name: str,
        attrs: dict[str, Any], version: str | None,
    ) -> None:  # fmt: skip
        values = {
            "b_ws": workspace, "b_key": key, "b_live_id": live_id, "b_user_name": user_name,
            "b_attrs": attrs, "b_version": version, "b_updated_at": now(),
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
        in as one executemany insert, existing ones are updated one by one."""
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

    # -- metrics and outbox -----------------------------------------------------
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

    def metrics(self, run_id: str) -> dict[str, float]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.metrics).where(t.metrics.c.run_id == run_id))
            return {r.name: r.value for r in rows}

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
