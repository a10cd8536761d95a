"""Running a plan: dependency order, bounded concurrency, journal, state, outbox.

Each plan action becomes one node (a group's additions and removals share one
node so they go out as one versioned PATCH). A node runs when the nodes it
depends on are finished: a group waits for the creates of its new members, a
deactivation waits for the removal of the user's memberships. Every node writes a
journal row before it sends anything and, in one transaction, its result, the
state change and the HRIS outbox event after. A crash at any moment therefore
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
from typing import Any

from scimctl.errors import ApiError, OperationFailed, OutcomeUnknown
from scimctl.model import LiveUser, same
from scimctl.plan.model import Action, Plan
from scimctl.scim.client import ScimClient
from scimctl.scim.mapping import members_patch, user_patch, user_to_scim
from scimctl.scim.transport import RequestTrace
from scimctl.state.store import Store

MEMBER_CHUNK = 500
CREATE_ATTEMPTS = 6
QUARANTINE_WINDOW = 20
QUARANTINE_MIN = 10
QUARANTINE_SHARE = 0.5


@dataclass
class OpResult:
    node: str
    actions: list[Action]
    outcome: str  # ok | failed | skipped
    error: str | None = None
    status: int | None = None
    attempts: int = 0
    latency_ms: float = 0.0


@dataclass
class ApplyReport:
    run_id: str
    results: list[OpResult]
    wall_seconds: float
    stopped_early: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[OpResult]:
        return [r for r in self.results if r.outcome != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped_early is None


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
    nodes: dict[str, _Node] = {}
    for action in plan.actions:
        name = f"group:{action.key}" if action.resource == "group" else action.id
        nodes.setdefault(name, _Node(name, [])).actions.append(action)
    creates = {a.key: a.id for a in plan.actions if a.kind == "create"}
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
    for node in nodes.values():
        for dep in node.deps:
            nodes[dep].dependents.add(node.name)
    return nodes


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
        client: ScimClient,
        store: Store,
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
        self._lock = threading.Lock()
        self._known_ids = {a.key: a.live_id for a in plan.actions if a.resource == "user"}
        self._state_ids: dict[str, str] | None = None

    # -- scheduling ------------------------------------------------------------
    def run(self) -> ApplyReport:
        started = time.monotonic()
        nodes = build_graph(self.plan)
        waiting = {n: set(node.deps) for n, node in nodes.items() if node.deps}
        ready = deque(sorted(n for n, node in nodes.items() if not node.deps))
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
                    ready.append(dep)
            self.progress(res, len(outcome), total)

        with ThreadPoolExecutor(self.parallelism, thread_name_prefix="apply") as pool:
            while ready or running:
                # Keep at most `parallelism` nodes in flight: waiting on a few futures
                # is cheap, and a quarantine stops work that has not started yet.
                while ready and len(running) < self.parallelism:
                    node = nodes[ready.popleft()]
                    blocked = self._blocked_by(node, outcome)
                    if stopped or blocked:
                        finish(node.name, self._skip(node, f"not run: {stopped or blocked}"))
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
        return ApplyReport(self.run_id, results, time.monotonic() - started, stopped)

    @staticmethod
    def _blocked_by(node: _Node, outcome: dict[str, OpResult]) -> str | None:
        # Group nodes go ahead without members whose create failed; user nodes
        # (deactivate after membership removal) do not run on a failed dependency.
        if node.name.startswith("group:"):
            return None
        failed = sorted(d for d in node.deps if outcome[d].outcome != "ok")
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

        A group's additions and removals go out as one PATCH, so they are one row,
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
            "resource_id": action.live_id or self.created.get(action.key),
            "user_name": None if action.resource == "group" else user_name,
            "method": method,
            "path": path,
            "status": res.status if res else None,
            "outcome": res.outcome if res else None,
            "attempts": res.attempts if res else None,
            "latency_ms": round(res.latency_ms, 3) if res else None,
            "error": res.error if res else None,
            "changes": journal_changes(node.actions),
        }

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
            if action.resource == "group":
                commit = self._group(node, count, res)
            else:
                commit = self._user(action, count, res)
            res.outcome = "ok"
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
            if commit is not None and res.outcome == "ok":
                commit(conn)
        return res

    def _route(self, node: _Node) -> tuple[str | None, str | None]:
        action = node.actions[0]
        if action.resource == "group":
            return "PATCH", f"{self.client.groups_path}/{action.live_id}"
        users = self.client.users_path
        if action.kind == "create":
            return "POST", users
        if action.kind == "delete":
            return "DELETE", f"{users}/{action.live_id}"
        if action.kind == "forget" or not action.changes:
            return None, None
        return "PATCH", f"{users}/{action.live_id}"

    # -- users -------------------------------------------------------------------
    def _user(self, action: Action, count: RequestTrace, res: OpResult) -> Commit:
        ws, store = self.workspace, self.store
        if action.kind == "forget":
            return lambda conn: store.drop_user(conn, ws, action.key)
        if action.kind == "create":
            live, password = self._create(action, count)
            with self._lock:
                self.created[action.key] = live.id

            def commit(conn: Any) -> None:
                store.put_user(
                    conn, ws, action.key, live.id, live.user_name, action.after, live.version
                )
                self._event(conn, action, live.id, live.user_name, password_sent=password)

            return commit
        if action.kind == "delete":
            try:
                self.client.delete_user(action.live_id, action.version, trace=count)
            except ApiError as exc:
                # A retried DELETE whose first attempt went through finds nothing left.
                if not (exc.status == 404 and count.attempts > 1):
                    raise

            def commit_delete(conn: Any) -> None:
                store.drop_user(conn, ws, action.key)
                self._event(conn, action, action.live_id, action.userName)

            return commit_delete
        live = self._patch_user(action, count) if action.changes else None
        user_name = live.user_name if live else action.userName
        attrs = {k: v for k, v in (live.attrs if live else {}).items() if v not in (None, [])}
        version = live.version if live else action.version

        def commit_patch(conn: Any) -> None:
            if action.kind == "rekey":
                old = action.changes["externalId"].before
                if old and old != action.key:
                    store.drop_user(conn, ws, old)
            store.put_user(conn, ws, action.key, action.live_id, user_name, attrs, version)
            self._event(conn, action, action.live_id, user_name)

        return commit_patch

    def _create(self, action: Action, count: RequestTrace) -> tuple[LiveUser, bool]:
        password = None
        if self.plan.policy.get("password") == "generate":
            password = temporary_password()
        body = user_to_scim(self._with_manager_id(action.after), action.key, password)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                live = self.client.create_user(body, trace=count)
                break
            except OutcomeUnknown as exc:
                # Never a duplicate: look before trying again.
                found = self.client.find_user(action.key, action.after.get("userName"), trace=count)
                if found is not None and found.external_id == action.key:
                    live = found
                    break
                if attempt == CREATE_ATTEMPTS:
                    raise OperationFailed(
                        f"create outcome unknown after {attempt} attempts: {exc}"
                    ) from None
            except ApiError as exc:
                if exc.status == 409:
                    found = self.client.find_user(action.key, trace=count)
                    if found is not None:
                        live = found
                        break
                    raise OperationFailed(
                        f"userName {action.userName} is taken, possibly by a deleted user "
                        "(Genesys keeps deleted users' emails reserved): restore or rename it",
                        409,
                    ) from None
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

    def _patch_user(self, action: Action, count: RequestTrace) -> LiveUser:
        changes = {k: c.after for k, c in action.changes.items() if k != "externalId"}
        changes = self._with_manager_id(changes)
        ext = action.changes["externalId"].after if "externalId" in action.changes else None
        try:
            return self.client.patch_user(
                action.live_id, user_patch(changes, ext), action.version, trace=count
            )
        except ApiError as exc:
            if exc.version_conflict and count.attempts > 1:
                # Our own earlier attempt may have landed before the connection broke.
                live = self.client.find_user(ext or action.key, trace=count)
                if live and all(same(k, live.attrs.get(k), v) for k, v in changes.items()):
                    return live
            raise

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
        if password_sent is False and self.plan.policy.get("password") == "generate":
            payload["password_reset_required"] = True
        self.store.add_event(conn, self.workspace, self.run_id, payload)

    # -- groups ------------------------------------------------------------------
    def _group(self, node: _Node, count: RequestTrace, res: OpResult) -> Commit:
        group = node.actions[0]
        add_ids, add_keys, remove_ids, remove_keys, missing = [], [], [], [], []
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
                    remove_ids.append(m.id)
                    if m.key:
                        remove_keys.append(m.key)
        version = group.version
        ops = [("add", i) for i in add_ids] + [("remove", i) for i in remove_ids]
        for start in range(0, len(ops), MEMBER_CHUNK):
            chunk = ops[start : start + MEMBER_CHUNK]
            add = [i for op, i in chunk if op == "add"]
            remove = [i for op, i in chunk if op == "remove"]
            try:
                version = self.client.patch_group(
                    group.live_id, members_patch(add, remove), version, trace=count
                )
            except ApiError as exc:
                if not (exc.version_conflict and count.attempts > 1):
                    raise
                live = self.client.get_group(group.live_id, trace=count)
                if not (set(add) <= live.members and not set(remove) & live.members):
                    raise
                version = live.version
        if missing:
            res.error = f"left out members whose create failed: {', '.join(sorted(missing))}"
        ws, store = self.workspace, self.store
        return lambda conn: store.put_memberships(
            conn, ws, group.key, group.live_id, add_keys, remove_keys
        )


SECRET_ATTR = re.compile(r"pass(word)?|secret|token|credential", re.IGNORECASE)


def journal_changes(actions: list[Action]) -> dict[str, Any]:
    """What the journal records of a node's actions: before and after, never a secret."""
    if actions[0].resource == "group":
        members: dict[str, list[str]] = {}
        for action in actions:
            side = "added" if action.kind == "add_members" else "removed"
            members.setdefault(side, []).extend(
                m.userName or m.key or m.id or "?" for m in action.members
            )
        return {"members": members}
    return {
        attr: {"before": change.before, "after": change.after}
        for attr, change in actions[0].changes.items()
        if not SECRET_ATTR.search(attr)
    }


def _explain(exc: ApiError) -> str:
    if exc.version_conflict:
        return f"{exc} -- the resource changed since the plan was made; run plan again"
    return str(exc)
