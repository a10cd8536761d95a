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
from scimctl.scim.client import GROUPS, PLATFORM_USERS, USERS, GenesysClient
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
    outcome: str  # ok | failed | skipped | partial (some members left out: their create failed)
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
        client: GenesysClient,
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
        """One journal row; a group's additions and removals are one "members" row."""
        action = node.actions[0]
        return {
            "workspace": self.workspace,
            "run_id": self.run_id,
            "phase": phase,
            "action_id": node.name,
            "action": action.kind if len(node.actions) == 1 else "members",
            "resource": action.resource,
            "resource_key": action.key,
            "resource_id": action.live_id or self.created.get(action.key),
            "user_name": action.userName,
            "method": method,
            "path": path,
            "status": res.status if res else None,
            "outcome": res.outcome if res else None,
            "attempts": res.attempts if res else None,
            "latency_ms": round(res.latency_ms, 3) if res else None,
            "error": res.error if res else None,
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
        if action.resource == "group":
            return "PATCH", f"{GROUPS}/{action.live_id}"
        if action.kind == "create":
            return "POST", USERS
        if action.kind == "restore":
            return "PATCH", f"{PLATFORM_USERS}/{action.live_id}"
        if action.kind == "delete":
            return "DELETE", f"{USERS}/{action.live_id}"
        if action.kind in ("forget", "release") or not action.changes:
            return None, None
        return "PATCH", f"{USERS}/{action.live_id}"

    # -- users -------------------------------------------------------------------
    def _user(self, action: Action, count: RequestTrace, res: OpResult) -> Commit:
        ws, store = self.workspace, self.store
        if action.kind in ("forget", "release"):
            return lambda conn: store.drop_user(conn, ws, action.key)
        if action.kind == "restore":
            live = self._restore(action, count)
            with self._lock:
                self.created[action.key] = live.id

            def commit_restore(conn: Any) -> None:
                attrs = {k: v for k, v in live.attrs.items() if v not in (None, [])}
                store.put_user(conn, ws, action.key, live.id, live.user_name, attrs, live.version)
                self._event(conn, action, live.id, live.user_name)

            return commit_restore
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
            store.put_user(conn, ws, action.key, action.live_id, user_name, attrs, version)
            self._event(conn, action, action.live_id, user_name)

        return commit_patch

    def _create(self, action: Action, count: RequestTrace) -> tuple[LiveUser, bool]:
        password = None
        if self.plan.policy.get("password") == "generate":
            password = temporary_password()
        body = user_to_scim(action.after, action.key, password)
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
                    live = self._conflict(action, count)
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

    def _restore(self, action: Action, count: RequestTrace) -> LiveUser:
        """Platform restore, then every desired attribute: the account comes back with
        whatever it had when deleted and without roles (reference §7, §11)."""
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
            live = self.client.get_user(action.live_id, trace=count)
        except ApiError as exc:
            if exc.status == 404:
                raise OperationFailed(
                    f"restoring {action.live_id} did not bring it back; run plan again", 404
                ) from None
            raise
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
        changes = {k: c.after for k, c in action.changes.items() if k != "externalId"}
        ext = action.changes["externalId"].after if "externalId" in action.changes else None
        try:
            return self.client.patch_user(
                action.live_id, user_patch(changes, ext), action.version, trace=count
            )
        except ApiError as exc:
            if exc.scim_type == "invalidVers" and count.attempts > 1:
                # Our own earlier attempt may have landed before the connection broke.
                live = self.client.find_user(ext or action.key, trace=count)
                if live and all(same(k, live.attrs.get(k), v) for k, v in changes.items()):
                    return live
            raise

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
    def _group(self, node: _Node, count: RequestTrace, res: OpResult) -> Commit | None:
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
                live = self.client.patch_group(
                    group.live_id, members_patch(add, remove), version, trace=count
                )
            except ApiError as exc:
                if not (exc.scim_type == "invalidVers" and count.attempts > 1):
                    raise
                live = self.client.get_group(group.live_id, trace=count)
                if not (set(add) <= live.members and not set(remove) & live.members):
                    raise
            version = live.version
        if missing:
            # Never "succeeded" for members nothing was sent for: the node is
            # reported skipped when all of it depended on failed creates.
            res.error = f"left out members whose create failed: {', '.join(sorted(missing))}"
            res.outcome = "partial" if ops else "skipped"
            if not ops:
                return None
        ws, store = self.workspace, self.store
        return lambda conn: store.put_memberships(
            conn, ws, group.key, group.live_id, add_keys, remove_keys
        )


def _explain(exc: ApiError) -> str:
    if exc.scim_type == "invalidVers":
        return (
            f"{exc} -- the resource changed in Genesys Cloud since the plan was made; "
            "run plan again"
        )
    return str(exc)
