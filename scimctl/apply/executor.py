"""Running a plan: dependency order, bounded concurrency, journal, state, outbox.

Each plan action becomes one node (a group's additions and removals share one
node; they go out in separate PATCHes so that one cannot sink the other). A node
runs when the nodes it depends on are finished: a group waits for the creates of its
new members, a deactivation waits for the removal of the user's memberships (and then
runs whatever their outcome: taking access away is never skipped, not even by the
quarantine, and goes first among what is ready). Every node writes a journal row
before it sends anything and, in one transaction, its result, the state change and
the HRIS outbox event after. A crash at any moment therefore
leaves a database that the next plan reconciles: creates carry the externalId,
so whatever was created is adopted, never created twice.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from scimctl.apply.grants import GrantWriter, applied_record, without_kept, write_grants
from scimctl.apply.restore_check import not_restored
from scimctl.errors import ApiError, OperationFailed, OutcomeUnknown
from scimctl.model import DeletedUser, LiveGroup, LiveUser, StateView, same
from scimctl.plan.model import Action, Plan
from scimctl.plan.stored import describe, not_stored, remember, unsupported
from scimctl.scim.client import PLATFORM_USERS
from scimctl.scim.entries import PER_ENTRY
from scimctl.scim.ids import id_problem, item_path, shown
from scimctl.scim.mapping import members_patch, user_patch, user_to_scim
from scimctl.scim.platform_grants import SUBJECTS
from scimctl.scim.transport import RequestTrace
from scimctl.state.applied import carried_over
from scimctl.state.interfaces import ExecutorStore
from scimctl.text import count as counted

MEMBER_CHUNK = 500
# Genesys refuses bodies over request.bytes.max (512,000); group PATCHes stay well under.
MEMBER_BODY_BYTES = 256_000
# A version conflict on content that did not change is retried with the fresh
# version; a writer that keeps changing the resource wins after this many tries.
VERSION_RETRIES = 3
CREATE_ATTEMPTS = 6
QUARANTINE_WINDOW = 20
QUARANTINE_MIN = 10
QUARANTINE_SHARE = 0.5


class Directory(Protocol):
    """The directory calls the executor makes; ``ScimClient`` is the real one.

    Typed as a protocol so the executor's scheduling can be tested against a small
    in-process directory (tests/fakes.py) rather than through HTTP. Every call takes
    ``trace=`` (a ``RequestTrace``) to count the attempts of one operation.
    """

    users_path: str
    groups_path: str
    search_wait: float  # how long a create of unknown outcome is looked up
    conflict_wait: float  # how long a 409 after an unknown outcome is looked up

    def create_user(self, body: dict[str, Any], **kw: Any) -> LiveUser: ...

    def patch_user(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser: ...

    def restore_user(self, user_id: str, version: int, **kw: Any) -> None: ...

    def delete_user(self, user_id: str, version: str | None, **kw: Any) -> None: ...

    def find_user(
        self, external_id: str | None = None, user_name: str | None = None, **kw: Any
    ) -> LiveUser | None: ...

    def find_deleted_user(self, user_name: str, **kw: Any) -> DeletedUser | None: ...

    def get_user(self, user_id: str, **kw: Any) -> LiveUser | None: ...

    def get_group(self, group_id: str, **kw: Any) -> LiveGroup: ...

    def find_group(self, display_name: str, **kw: Any) -> LiveGroup | None: ...

    def create_group(self, name: str, **kw: Any) -> LiveGroup: ...

    def patch_group(
        self, group_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> str | None: ...


@dataclass
class OpResult:
    node: str
    actions: list[Action]
    outcome: str  # ok | failed | skipped | partial (some members left out: their create failed)
    error: str | None = None
    status: int | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    # Values the service accepted but did not keep: {attribute: (sent, kept)}.
    not_stored: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class ApplyReport:
    run_id: str
    results: list[OpResult]
    wall_seconds: float
    stopped_early: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # How the run adapted to the service (a fallback taken), one line each.
    learned: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[OpResult]:
        return [r for r in self.results if r.outcome != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped_early is None

    @property
    def not_stored(self) -> list[str]:
        """One line per value a service accepted and did not keep."""
        return [
            f"{r.node}: {describe(name, sent, kept)}"
            for r in self.results
            for name, (sent, kept) in sorted(r.not_stored.items())
        ]

    @property
    def not_deprovisioned(self) -> list[OpResult]:
        """Deactivations and deletions that did not go through: leavers who still
        have access, which the run must say before anything else."""
        return [r for r in self.failed if any(_removes_access(a) for a in r.actions)]


@dataclass
class _Node:
    name: str
    actions: list[Action]
    deps: set[str] = field(default_factory=set)
    dependents: set[str] = field(default_factory=set)


# What a node writes to the state once its requests succeeded (inside the journal's
# transaction for the result, so both land or neither does).
Commit = Callable[[Any], None]


def build_graph(plan: Plan) -> dict[str, _Node]:
    """The plan's nodes by name, each with what must succeed before it may run.

    A group waits for the creates of its new members (their live ids go in the PATCH),
    a deactivation or deletion for the removal of the user's memberships, and a user
    whose manager is created in this run for that create (the manager is sent by id).
    """
    nodes: dict[str, _Node] = {}
    for action in plan.actions:
        name = action.id
        if action.resource == "group" and action.kind != "create_group":
            name = f"group:{action.key}"
        nodes.setdefault(name, _Node(name, [])).actions.append(action)
    for action in plan.actions:
        # A new group's members are added once it exists.
        if action.kind == "create_group" and f"group:{action.key}" in nodes:
            nodes[f"group:{action.key}"].deps.add(action.id)
    creates = {a.key: a.id for a in plan.actions if a.kind in ("create", "restore")}
    removed_in: dict[str, set[str]] = {}
    for action in plan.actions:
        if action.kind == "add_members":
            for m in action.members:
                if m.id is None and m.key in creates:
                    nodes[f"group:{action.key}"].deps.add(creates[m.key])
        elif action.kind == "remove_members":
            for m in action.members:
                if m.key:
                    removed_in.setdefault(m.key, set()).add(f"group:{action.key}")
    for action in plan.actions:
        if action.kind in ("deactivate", "delete"):
            nodes[action.id].deps |= removed_in.get(action.key, set())
        manager = action.changes.get("manager")
        if manager is not None and manager.after in creates:
            # The enterprise manager is sent as a live id: the manager must exist first.
            nodes[action.id].deps.add(creates[manager.after])
    user_nodes: dict[str, list[str]] = {}
    for action in plan.actions:
        if action.resource == "user" and action.kind != "grants":
            user_nodes.setdefault(action.key, []).append(action.id)
    for action in plan.actions:
        if action.kind == "grants":
            # After the user's own write: it exists, and its SCIM roles write cannot
            # undo a grant made before it.
            nodes[action.id].deps |= set(user_nodes.get(action.key, ()))
    for node in nodes.values():
        for dep in node.deps:
            nodes[dep].dependents.add(node.name)
    return nodes


def _removes_access(action: Action) -> bool:
    if action.resource != "user":
        return False
    if action.kind in ("deactivate", "delete"):
        return True
    return any(e.kind in ("deactivation", "deletion") for e in action.effects)


def takes_access_away(node: _Node) -> bool:
    """Whether the node deactivates or deletes an account: the one kind of operation
    that no ordering, quarantine or earlier failure may skip."""
    return any(_removes_access(a) for a in node.actions)


def temporary_password(length: int = 20) -> str:
    """Strong and policy-friendly: every character class at least once."""
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#$%*+-=?@^_"]
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class Executor:
    def __init__(
        self,
        plan: Plan,
        client: Directory,
        store: ExecutorStore,
        run_id: str,
        *,
        parallelism: int = 8,
        progress: Callable[[OpResult, int, int], None] | None = None,
        on_password: Callable[[dict[str, Any], str], bool] | None = None,
        outbox: bool = False,
    ) -> None:
        self.plan = plan
        self.client = client
        self.store = store
        self.run_id = run_id
        self.workspace = plan.workspace
        self.parallelism = max(1, parallelism)
        self.progress = progress or (lambda r, done, total: None)
        self.on_password = on_password
        self.outbox = outbox
        self.created: dict[str, str] = {}  # user key -> live id, for group nodes
        self.created_groups: dict[str, LiveGroup] = {}  # group name -> the group created
        self.member_chunk = MEMBER_CHUNK  # lowered for the rest of the run by a 413
        # "filter" or "value": how member removals are sent (see _send_members).
        self.member_removal = "filter"
        # "entry" or "whole": how emails and phoneNumbers are written (scim/entries.py).
        # Genesys documents the whole form; RFC services get entries until one refuses.
        self.multi_valued = "whole" if getattr(client, "provider", "") == "genesys" else "entry"
        self.learned: list[str] = []  # what the run learned about the service, once each
        self._lock = threading.Lock()
        self._known_ids = {a.key: a.live_id for a in plan.actions if a.resource == "user"}
        self._state_ids: dict[str, str] | None = None
        self._applied: dict[str, Any] | None = None
        self._grant_state: StateView | None = None  # read once, for grants' state records

    # -- scheduling ------------------------------------------------------------
    def run(self) -> ApplyReport:
        started = time.monotonic()
        nodes = build_graph(self.plan)
        waiting = {n: set(node.deps) for n, node in nodes.items() if node.deps}
        # Taking access away goes first among what is ready.
        ready = deque(
            sorted(
                (n for n, node in nodes.items() if not node.deps),
                key=lambda n: (not takes_access_away(nodes[n]), n),
            )
        )
        outcome: dict[str, OpResult] = {}
        recent: deque[bool] = deque(maxlen=QUARANTINE_WINDOW)
        stopped: str | None = None
        running: dict[Future[OpResult], str] = {}
        total = len(nodes)

        def finish(name: str, res: OpResult) -> None:
            outcome[name] = res
            for dep in sorted(nodes[name].dependents):
                waiting[dep].discard(name)
                if not waiting[dep]:
                    del waiting[dep]
                    if takes_access_away(nodes[dep]):
                        ready.appendleft(dep)
                    else:
                        ready.append(dep)
            self.progress(res, len(outcome), total)

        with ThreadPoolExecutor(self.parallelism, thread_name_prefix="apply") as pool:
            while ready or running:
                # Keep at most `parallelism` nodes in flight: waiting on a few futures
                # is cheap, and a quarantine stops work that has not started yet.
                while ready and len(running) < self.parallelism:
                    node = nodes[ready.popleft()]
                    blocked = self._blocked_by(node, outcome)
                    # A leaver loses access whatever else failed: a quarantine stops
                    # everything but deprovisioning.
                    halted = None if takes_access_away(node) else stopped
                    if halted or blocked:
                        finish(node.name, self._skip(node, f"not run: {halted or blocked}"))
                    else:
                        running[pool.submit(self._run_node, node)] = node.name
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    res = fut.result()
                    recent.append(res.outcome == "ok")
                    failures = recent.count(False)
                    if (
                        stopped is None
                        and len(recent) >= QUARANTINE_MIN
                        and failures / len(recent) > QUARANTINE_SHARE
                    ):
                        stopped = (
                            f"quarantine: {failures} of the last {len(recent)} "
                            "operations failed; stopped early"
                        )
                    finish(running.pop(fut), res)
        results = [outcome[n] for n in nodes]
        report = ApplyReport(self.run_id, results, time.monotonic() - started, stopped)
        report.learned = list(self.learned)
        return report

    @staticmethod
    def _blocked_by(node: _Node, outcome: dict[str, OpResult]) -> str | None:
        # Group nodes go ahead without members whose create failed, but not without
        # the group itself; a deprovisioning runs after the membership removals it
        # waits for whatever their outcome (each failure is reported on its own);
        # other user nodes do not run on a failed dependency.
        if takes_access_away(node):
            return None
        failed = sorted(d for d in node.deps if outcome[d].outcome != "ok")
        if node.name.startswith("group:"):
            failed = [d for d in failed if d.startswith("create_group:")]
        return f"depends on {', '.join(failed)}, which did not succeed" if failed else None

    def _skip(self, node: _Node, reason: str) -> OpResult:
        res = OpResult(node.name, node.actions, "skipped", error=reason)
        with self.store.tx() as conn:
            self.store.append_operation(conn, self._row(node, "result", res))
        return res

    # -- journal -------------------------------------------------------------------
    def _row(
        self, node: _Node, phase: str, res: OpResult | None = None,
        method: str | None = None, path: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One journal row, with the attribute changes (or members) it carries.

        A group's additions and removals are one node, so they are one row,
        named with the plan's words (``add_members``, ``remove_members`` or both).
        """
        action = node.actions[0]
        user_name = action.userName
        if "userName" in action.changes:
            user_name = action.changes["userName"].after or user_name
        return {
            "workspace": self.workspace,
            "run_id": self.run_id,
            "phase": phase,
            "action_id": node.name,
            "action": "+".join(a.kind for a in node.actions),
            "resource": action.resource,
            "resource_key": action.key,
            "resource_id": action.live_id or self._created_id(action),
            "user_name": None if action.resource == "group" else user_name,
            "method": method,
            "path": path,
            "status": res.status if res else None,
            "outcome": res.outcome if res else None,
            "attempts": res.attempts if res else None,
            "latency_ms": round(res.latency_ms, 3) if res else None,
            "error": res.error if res else None,
            "changes": journal_changes(node.actions, res.not_stored if res else None),
        }

    def _created_id(self, action: Action) -> str | None:
        """The live id this run gave the action's resource, if it created it."""
        with self._lock:
            if action.resource == "group":
                group = self.created_groups.get(action.key)
                return group.id if group else None
            return self.created.get(action.key)

    def _run_node(self, node: _Node) -> OpResult:
        action = node.actions[0]
        res = OpResult(node.name, node.actions, "ok")
        method, path = self._route(node)
        if method:
            with self.store.tx() as conn:
                self.store.append_operation(
                    conn, self._row(node, "intent", method=method, path=path)
                )
        count = RequestTrace()
        start = time.monotonic()
        commit: Callable[[Any], None] | None = None
        try:
            if action.kind == "create_group":
                commit = self._create_group(action, count)
            elif action.resource == "group":
                commit = self._group(node, count, res)
            else:
                commit = self._user(action, count, res)
        except OperationFailed as exc:
            res.outcome, res.error, res.status = "failed", str(exc), exc.status
        except ApiError as exc:
            res.outcome, res.error, res.status = "failed", _explain(exc), exc.status
        except Exception as exc:  # noqa: BLE001 - one broken node must not stop the others
            res.outcome, res.error = "failed", f"{exc.__class__.__name__}: {exc}"
        res.latency_ms = (time.monotonic() - start) * 1000
        res.attempts = count.attempts
        res.status = res.status or count.status
        with self.store.tx() as conn:
            self.store.append_operation(
                conn, self._row(node, "result", res, method=method, path=path)
            )
            if commit is not None and res.outcome in ("ok", "partial"):
                commit(conn)
        return res

    def _route(self, node: _Node) -> tuple[str | None, str | None]:
        action = node.actions[0]
        if action.kind == "create_group":
            return "POST", self.client.groups_path
        if action.resource == "group":
            group_id = action.live_id or self._created_id(action)
            return "PATCH", _path(self.client.groups_path, group_id)
        users = self.client.users_path
        if action.kind == "create":
            return "POST", users
        if action.kind == "restore":
            return "PATCH", _path(PLATFORM_USERS, action.live_id)
        if action.kind == "delete":
            return "DELETE", _path(users, action.live_id)
        if action.kind in ("forget", "release") or not action.changes:
            return None, None
        if action.kind == "grants":
            return "POST", _path(SUBJECTS, action.live_id or self._created_id(action)) + "/bulk*"
        return "PATCH", _path(users, action.live_id)

    # -- users -------------------------------------------------------------------
    def _user(self, action: Action, count: RequestTrace, res: OpResult) -> Commit:
        ws, store = self.workspace, self.store
        if action.kind in ("forget", "release"):
            return lambda conn: store.drop_user(conn, ws, action.key)
        if action.kind == "grants":
            user_id = action.live_id or self._created_id(action)
            if user_id is None:
                raise OperationFailed(f"{action.id}: the account has no live id")
            write_grants(cast(GrantWriter, self.client), user_id, action, count)
            with self._lock:
                if self._grant_state is None:
                    self._grant_state = self.store.state(ws)
            record = applied_record(self.plan, self._grant_state, action, user_id)
            return lambda conn: store.put_user(conn, ws, *record)
        if action.kind == "restore":
            live = self._restore(action, count)
            with self._lock:
                self.created[action.key] = live.id
            wanted = {k: c.after for k, c in action.changes.items() if k != "externalId"}
            back = self.client.get_user(live.id, trace=count)
            missing = not_restored(self._with_manager_id(wanted), back)
            live = back or live
            if missing:
                res.outcome = "partial"
                res.error = (
                    f"restored, but {', '.join(missing)} did not stick "
                    "(read back by id); the next plan sets them again"
                )

            def commit_restore(conn: Any) -> None:
                attrs = {k: v for k, v in live.attrs.items() if v not in (None, [])}
                store.put_user(conn, ws, action.key, live.id, live.user_name, attrs, live.version)
                self._event(conn, action, live.id, live.user_name)

            return commit_restore
        if action.kind == "create":
            live, password = self._create(action, count)
            with self._lock:
                self.created[action.key] = live.id
            res.not_stored = not_stored(action.after, live)
            kept = remember(action.after, res.not_stored, action.after)

            def commit(conn: Any) -> None:
                store.put_user(conn, ws, action.key, live.id, live.user_name, kept, live.version)
                self._event(conn, action, live.id, live.user_name, password_sent=password)

            return commit
        if action.kind == "delete":
            self._delete(action, count)

            def commit_delete(conn: Any) -> None:
                store.drop_user(conn, ws, action.key)
                self._event(conn, action, action.live_id, action.userName)

            return commit_delete
        old = action.changes["externalId"].before if action.kind == "rekey" else None
        patched = self._patch_user(action, count) if action.changes else None
        user_name = patched.user_name if patched else action.userName
        attrs = {k: v for k, v in (patched.attrs if patched else {}).items() if v not in (None, [])}
        attrs = without_kept(attrs, self.plan, action.key)  # additive: not scimctl's
        version = patched.version if patched else action.version
        if patched is not None:
            sent = {k: c.after for k, c in action.changes.items() if k != "externalId"}
            res.not_stored = not_stored(sent, patched)
            attrs = remember(
                attrs, res.not_stored, sent, self._not_stored_before(old or action.key)
            )

        if old and old != action.key:
            # The old key's record moves with the rekey: which grants scimctl made
            # (and the like) stay known, so additive ownership can still remove them.
            attrs = carried_over(self._applied_before(old), attrs)

        def commit_patch(conn: Any) -> None:
            if old and old != action.key:
                store.drop_user(conn, ws, old)
            store.put_user(conn, ws, action.key, live_id(action), user_name or "", attrs, version)
            self._event(conn, action, action.live_id, user_name)

        return commit_patch

    def _not_stored_before(self, key: str) -> dict[str, Any]:
        """What the state records as not stored for ``key`` (the state read once a run)."""
        return unsupported(self._applied_before(key))

    def _applied_before(self, key: str) -> Any:
        """The record the state holds for ``key`` (the state read once a run)."""
        with self._lock:
            if self._applied is None:
                self._applied = self.store.state(self.workspace).applied
            return self._applied.get(key)

    def _delete(self, action: Action, count: RequestTrace) -> None:
        version = action.version
        for tries in range(1, VERSION_RETRIES + 1):
            try:
                self.client.delete_user(live_id(action), version, trace=count)
                return
            except ApiError as exc:
                # A retried DELETE whose first attempt went through finds nothing left.
                if exc.status == 404 and count.attempts > 1:
                    return
                if not exc.version_conflict:
                    raise
                live = self.client.get_user(live_id(action), trace=count)
                if live is None:
                    return
                if tries == VERSION_RETRIES or not same(
                    "userName", live.user_name, action.userName
                ):
                    raise
                version = live.version

    def _create(self, action: Action, count: RequestTrace) -> tuple[LiveUser, bool]:
        password = None
        if self.plan.policy.password == "generate":
            password = temporary_password()
        body = user_to_scim(self._with_manager_id(action.after), action.key, password)
        unknown = False
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                live = self.client.create_user(body, trace=count)
                break
            except OutcomeUnknown as exc:
                # Never a duplicate: look (search may lag) before trying again.
                unknown = True
                found = self._look_up(action, count, self.client.search_wait)
                if found is not None:
                    live = found
                    break
                if attempt == CREATE_ATTEMPTS:
                    raise OperationFailed(
                        f"create outcome unknown after {counted(attempt, 'attempt')}: {exc}"
                    ) from None
            except ApiError as exc:
                if exc.status == 409:
                    # After an unknown outcome a 409 means our first try landed and
                    # search has not caught up: look until it does. Otherwise the name
                    # is someone else's (or a deleted user's): say whose.
                    wait = self.client.conflict_wait if unknown else 0.0
                    found = self._look_up(action, count, wait)
                    live = found if found is not None else self._conflict(action, count)
                    break
                raise
        sent = False
        if password is not None and self.on_password is not None:
            user = {
                "externalId": action.key,
                "id": live.id,
                "userName": live.user_name,
                "run_id": self.run_id,
            }
            sent = self.on_password(user, password)
        return live, sent

    def _look_up(self, action: Action, count: RequestTrace, wait: float) -> LiveUser | None:
        """This create's account by externalId, then userName, asked again with backoff
        for ``wait`` seconds, since search may not show a new account yet."""
        deadline = time.monotonic() + wait
        pause = 0.1
        while True:
            found = self.client.find_user(action.key, action.after.get("userName"), trace=count)
            if found is not None and found.external_id == action.key:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)

    def _restore(self, action: Action, count: RequestTrace) -> LiveUser:
        """Platform restore, then every desired attribute: the account comes back with
        whatever it had when deleted and without roles (docs/genesys.md, Deleted accounts)."""
        assert action.live_id is not None and action.version is not None
        try:
            self.client.restore_user(action.live_id, int(action.version), trace=count)
        except OutcomeUnknown:
            pass  # the SCIM read below says whether it came back
        except ApiError as exc:
            if exc.status != 409:
                raise
            raise OperationFailed(
                f"the deleted account {action.live_id} changed since the plan was made "
                "(version mismatch); run plan again",
                409,
            ) from None
        try:
            live = self.client.get_user(live_id(action), trace=count)
        except ApiError as exc:
            if exc.status == 404:
                raise OperationFailed(
                    f"restoring {action.live_id} did not bring it back; run plan again", 404
                ) from None
            raise
        if live is None:
            raise OperationFailed(
                f"restoring {action.live_id} did not bring it back; run plan again", 404
            )
        changes = {k: c.after for k, c in action.changes.items() if k != "externalId"}
        return self.client.patch_user(
            live.id, user_patch(changes, action.key), live.version, trace=count
        )

    def _conflict(self, action: Action, count: RequestTrace) -> LiveUser:
        """A create answered 409: our own earlier attempt, or say who holds the userName."""
        user_name = action.userName or ""
        found = self.client.find_user(action.key, trace=count)
        if found is not None and found.external_id == action.key:
            return found
        holder = self.client.find_user(user_name=user_name, trace=count)
        if holder is not None:
            raise OperationFailed(
                f"userName {user_name} is taken by live account {holder.id} "
                f"(externalId {holder.external_id or 'none'}); the next plan shows it",
                409,
            )
        deleted = self.client.find_deleted_user(user_name, trace=count)
        if deleted is not None:
            raise OperationFailed(
                f"userName {user_name} is held by deleted account {deleted.id}; "
                "the next plan restores it",
                409,
            )
        raise OperationFailed(f"userName {user_name} is taken (409) by an account not found", 409)

    def _patch_user(self, action: Action, count: RequestTrace) -> LiveUser:
        """PATCH with If-Match; a version conflict is checked by a GET by id.

        The plan's version may come from a lagging listing. If the attributes this
        operation changes still hold what the plan saw, nothing was changed under
        us: send again with the current version. If they already hold the new values
        (our own earlier attempt landed), it is done. Anything else is a real change
        since the plan, and the operation fails."""
        changes = {k: c.after for k, c in action.changes.items() if k != "externalId"}
        changes = self._with_manager_id(changes)
        ext = action.changes["externalId"].after if "externalId" in action.changes else None
        before = {k: c.before for k, c in action.changes.items()}
        by_entry = any(k in PER_ENTRY or k == "userName" for k in changes)
        version = action.version
        tries = 0
        while True:
            tries += 1
            per_entry = by_entry and self.multi_valued == "entry"
            body = user_patch(changes, ext, before=before, per_entry=per_entry)
            try:
                return self.client.patch_user(live_id(action), body, version, trace=count)
            except ApiError as exc:
                if per_entry and _filter_form_refused(exc):
                    # The service takes no value-filter paths: write lists whole.
                    self._learn(
                        "multi_valued", "whole",
                        f"the service refused emails/phoneNumbers changed by entry "
                        f"(HTTP {exc.status}); they were replaced whole for the rest of the run",
                    )  # fmt: skip
                    tries -= 1
                    continue
                if not exc.version_conflict:
                    raise
                live = self.client.get_user(live_id(action), trace=count)
                if live is None:
                    raise
                if ext in (None, live.external_id) and all(
                    same(k, live.attrs.get(k), v) for k, v in changes.items()
                ):
                    return live
                if tries >= VERSION_RETRIES or not _as_planned(action, live):
                    raise
                version = live.version

    def _with_manager_id(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The manager's key replaced by its live id (created in this run, or known)."""
        key = attrs.get("manager")
        if not key:
            return attrs
        with self._lock:
            live_id = self.created.get(key) or self._known_ids.get(key)
        if live_id is None:
            if self._state_ids is None:
                state = self.store.state(self.workspace)
                self._state_ids = {k: m.id for k, m in state.users.items()}
            live_id = self._state_ids.get(key)
        if live_id is None and "@" in key:  # an unmanaged manager named by userName
            found = self.client.find_user(None, key)
            live_id = found.id if found else None
        if live_id is None:
            raise OperationFailed(f"manager {key!r} has no account")
        return {**attrs, "manager": live_id}

    def _event(
        self, conn: Any, action: Action, live_id: str | None, user_name: str | None,
        password_sent: bool | None = None,
    ) -> None:  # fmt: skip
        if not self.outbox:
            return
        payload: dict[str, Any] = {
            "externalId": action.key,
            "id": live_id,
            "userName": user_name,
            "action": action.kind,
            "status": "succeeded",
            "run_id": self.run_id,
        }
        if password_sent is False and self.plan.policy.password == "generate":
            payload["password_reset_required"] = True
        self.store.add_event(conn, self.workspace, self.run_id, payload)

    # -- groups ------------------------------------------------------------------
    def _create_group(self, action: Action, count: RequestTrace) -> Commit:
        """POST the group, never twice: an unknown outcome is looked up by displayName
        (search may lag) before the POST is sent again, as user creates are."""
        unknown = False
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                group = self.client.create_group(action.key, trace=count)
                break
            except OutcomeUnknown as exc:
                unknown = True
                found = self._look_up_group(action.key, count, self.client.search_wait)
                if found is not None:
                    group = found
                    break
                if attempt == CREATE_ATTEMPTS:
                    raise OperationFailed(
                        f"group create outcome unknown after {counted(attempt, 'attempt')}: {exc}"
                    ) from None
            except ApiError as exc:
                if exc.status != 409:
                    raise
                # After an unknown outcome a 409 is our own first try; otherwise
                # someone created the group since the plan, and a plan must say so.
                found = (
                    self._look_up_group(action.key, count, self.client.conflict_wait)
                    if unknown
                    else None
                )
                if found is None:
                    raise OperationFailed(
                        f"group {action.key!r} exists already (409): it was created since "
                        "the plan was made; run plan again",
                        409,
                    ) from None
                group = found
                break
        with self._lock:
            self.created_groups[action.key] = group
        ws, store = self.workspace, self.store
        return lambda conn: store.put_memberships(conn, ws, action.key, group.id, [], [])

    def _look_up_group(self, name: str, count: RequestTrace, wait: float) -> LiveGroup | None:
        """The group named ``name``, asked again with backoff for ``wait`` seconds."""
        deadline = time.monotonic() + wait
        pause = 0.1
        while True:
            found = self.client.find_group(name, trace=count)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)

    def _group(self, node: _Node, count: RequestTrace, res: OpResult) -> Commit | None:
        group = node.actions[0]
        if group.live_id is None:  # created earlier in this run (build_graph's dependency)
            with self._lock:
                new = self.created_groups[group.key]
            group = group.model_copy(update={"live_id": new.id, "version": new.version})
        add_ids: list[str] = []
        add_keys: list[str] = []
        remove_ids: list[str] = []
        remove_keys: list[str] = []
        missing: list[str] = []
        for action in node.actions:
            for m in action.members:
                if action.kind == "add_members":
                    member_id = m.id or self.created.get(m.key or "")
                    if member_id is None:
                        missing.append(m.key or "?")
                        continue
                    add_ids.append(member_id)
                    if m.key:
                        add_keys.append(m.key)
                else:
                    if m.id is not None:
                        remove_ids.append(m.id)
                    if m.key:
                        remove_keys.append(m.key)
        sent = bool(add_ids or remove_ids)
        if sent:
            self._patch_members(live_id(group), group.version, add_ids, remove_ids, count)
        if missing:
            # Never "succeeded" for members nothing was sent for: the node is
            # reported skipped when all of it depended on failed creates.
            res.error = f"left out members whose create failed: {', '.join(sorted(missing))}"
            res.outcome = "partial" if sent else "skipped"
            if not sent:
                return None
        ws, store = self.workspace, self.store
        return lambda conn: store.put_memberships(
            conn, ws, group.key, live_id(group), add_keys, remove_keys
        )

    def _patch_members(
        self,
        group_id: str,
        version: str | None,
        add_ids: list[str],
        remove_ids: list[str],
        count: RequestTrace,
    ) -> None:
        """Additions, then removals, each in their own PATCHes: a refused removal cannot
        sink the additions, nor the reverse. Both are tried; the first failure is
        raised once both were."""
        failure: ApiError | None = None
        for op, ids in (("add", add_ids), ("remove", remove_ids)):
            if not ids:
                continue
            try:
                version = self._send_members(group_id, version, op, ids, count)
            except ApiError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _send_members(
        self, group_id: str, version: str | None, op: str, ids: list[str], count: RequestTrace
    ) -> str | None:
        """One kind of membership change in PATCHes that fit the service's body limit.

        Chunks are cut at ``MEMBER_BODY_BYTES`` and at most ``member_chunk`` members; a
        413 halves ``member_chunk`` for the rest of the run and resends that chunk in
        halves. A removal whose filter form is refused (400/501) is sent again in the
        ``value`` form, and the run keeps that form for every group after (learned
        once, noted in the report). A version conflict is retried with the current
        version: additions and removals are deltas that never undo another writer's
        change."""
        pending = deque((op, i) for i in ids)
        conflicts = 0
        while pending:
            chunk = [pending.popleft() for _ in range(self._chunk_size(pending))]
            add = [i for kind, i in chunk if kind == "add"]
            remove = [i for kind, i in chunk if kind == "remove"]
            removal = self.member_removal
            try:
                version = self.client.patch_group(
                    group_id, members_patch(add, remove, removal), version, trace=count
                )
                continue
            except ApiError as exc:
                if exc.status == 413 and len(chunk) > 1:
                    with self._lock:
                        self.member_chunk = max(1, min(self.member_chunk, len(chunk) // 2))
                    pending.extendleft(reversed(chunk))
                    continue
                if remove and removal == "filter" and _filter_form_refused(exc):
                    self._learn_value_removal(exc)
                    pending.extendleft(reversed(chunk))
                    continue
                if not exc.version_conflict:
                    raise
                live = self.client.get_group(group_id, trace=count)
                if not (set(add) <= live.members and not set(remove) & live.members):
                    conflicts += 1
                    if conflicts > VERSION_RETRIES:
                        raise
                    pending.extendleft(reversed(chunk))
                version = live.version
        return version

    def _learn_value_removal(self, exc: ApiError) -> None:
        self._learn(
            "member_removal", "value",
            f'the service refused member removal by filter (members[value eq "…"]): '
            f"HTTP {exc.status}; removals were sent as "
            '{"op": "remove", "path": "members", "value": [...]} for the rest of the run',
        )  # fmt: skip

    def _learn(self, setting: str, value: str, note: str) -> None:
        """Switch a fallback on for the rest of the run, noting it once."""
        with self._lock:
            if getattr(self, setting) == value:
                return
            setattr(self, setting, value)
            self.learned.append(note)

    def _chunk_size(self, pending: deque[tuple[str, str]]) -> int:
        """How many of ``pending``, from the front, go in the next PATCH (at least one)."""
        size, n = 200, 0  # the PatchOp envelope
        for op, member in pending:
            if n >= self.member_chunk:
                break
            size += len(member) + (16 if op == "add" else 64)
            if size > MEMBER_BODY_BYTES and n:
                break
            n += 1
        return max(1, n)


# What a refusal of the filter form of a member removal looks like, as opposed to a
# filter that matched nothing (noTarget) or a stale version: the service does not
# take that form, and the value form is worth one try.
_REFUSED_FORM = {None, "invalidPath", "invalidFilter", "invalidSyntax", "invalidValue"}


def _filter_form_refused(exc: ApiError) -> bool:
    return exc.status == 501 or (exc.status == 400 and exc.scim_type in _REFUSED_FORM)


def _as_planned(action: Action, live: LiveUser) -> bool:
    """Whether the attributes ``action`` changes still hold what the plan saw."""
    for name, change in action.changes.items():
        now = live.external_id if name == "externalId" else live.attrs.get(name)
        if not same(name, now, change.before):
            return False
    return True


SECRET_ATTR = re.compile(r"pass(word)?|secret|token|credential", re.IGNORECASE)


def journal_changes(
    actions: list[Action], kept: dict[str, tuple[Any, Any]] | None = None
) -> dict[str, Any]:
    """What the journal records of a node's actions: before and after, never a secret;
    and, for a value the service did not store, what it kept (``stored``)."""
    if actions[0].resource == "group" and actions[0].kind != "create_group":
        members: dict[str, list[str]] = {}
        for action in actions:
            side = "added" if action.kind == "add_members" else "removed"
            members.setdefault(side, []).extend(
                m.userName or m.key or m.id or "?" for m in action.members
            )
        return {"members": members}
    out: dict[str, Any] = {
        attr: {"before": change.before, "after": change.after}
        for attr, change in actions[0].changes.items()
        if not SECRET_ATTR.search(attr)
    }
    for attr, (_, stored) in (kept or {}).items():
        if attr in out:
            out[attr]["stored"] = stored
    return out


def _explain(exc: ApiError) -> str:
    if exc.version_conflict:
        return (
            f"{exc} -- the resource changed since the plan was made (in Genesys Cloud, "
            "not only in a lagging listing); run plan again"
        )
    return str(exc)


def live_id(action: Action) -> str:
    """The live id of the account or group an action writes to; the plan always has one
    for every kind but create (an edited file without it is refused before this)."""
    if action.live_id is None:
        raise OperationFailed(f"{action.id}: the plan gives no live id to write to")
    return action.live_id


def _path(collection: str, value: str | None) -> str:
    """The path a write to ``value`` goes to, as the journal records it; a bad id is
    shown escaped (the write itself refuses it)."""
    if value is not None and id_problem(value) is None:
        return item_path(collection, value)
    return f"{collection}/{shown(value)}"
