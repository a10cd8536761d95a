"""A tiny in-process directory and plan builders for unit tests of the executor.

``FakeDirectory`` has the calls the executor makes (``DirectoryWrites`` in
scimctl/apply/context.py) and keeps
users and groups in dicts. It is not a model of Genesys or of our HTTP layer: the
emulator and the end-to-end tests cover those. It lets a test say "this create
fails" (or "its answer is lost", or "search lags") and then check what the executor
did about it: what ran, in which order, what was skipped, what the journal and the
state say. ``FakeClock`` stands in for the executor's clock and sleep, so a lookup
that would wait minutes runs in no time.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from scimctl.errors import ApiError, OutcomeUnknown
from scimctl.model import DeletedUser, LiveGroup, LiveUser
from scimctl.plan.model import (
    Action,
    Change,
    Member,
    Plan,
    PlanPolicy,
    PlanState,
    PlanTarget,
    Summary,
)
from scimctl.scim.schema import ENTERPRISE_USER
from scimctl.scim.transport import RequestTrace, TransportStats

USER_ATTRS = ("userName", "displayName", "title", "active")
# More calls than any test makes: a loop that never ends fails its operation instead.
MAX_CALLS = 10_000


class FakeClock:
    """A monotonic clock that only ``sleep`` moves: hand ``clock`` and ``clock.sleep``
    to the executor (and ``clock`` to ``FakeDirectory`` for its search lag)."""

    # A loop that never ends fails its operation at once rather than hang the test.
    MAX_READS = 100_000

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads > self.MAX_READS:
            raise RuntimeError(f"the clock was read {self.MAX_READS} times: a loop that never ends")
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeDirectory:
    """Users and groups in dicts; every call is recorded and can be told to fail.

    ``calls`` lists ``(method, target)`` in call order, where the target is the
    externalId for ``create_user``, the name for ``create_group`` and ``find_*``, and
    the live id otherwise. ``before_call``, when set, runs at each call before
    anything changes (to look at the journal then).

    Like a SCIM service, it refuses a second account with a userName in use (409), a
    write whose version is not the current one (412, If-Match), and, with
    ``max_patch_members``, a group PATCH carrying more members (413). With
    ``search_lag`` seconds (on ``clock``), the ``find_*`` searches do not see what
    was created that recently; reads by id see it at once.
    """

    users_path = "/scim/v2/Users"
    groups_path = "/scim/v2/Groups"
    search_wait = 0.0
    conflict_wait = 0.0

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or (lambda: 0.0)
        self.search_lag = 0.0
        self.max_patch_members: int | None = None
        self.users: dict[str, LiveUser] = {}
        self.groups: dict[str, LiveGroup] = {}
        self.bodies: dict[str, dict[str, Any]] = {}  # user id -> the create body
        self.calls: list[tuple[str, str]] = []
        self.before_call: Callable[[str, str], None] | None = None
        # Every call counts as one request, for the run's metrics (``request_stats``).
        self.request_stats = TransportStats()
        self._failures: dict[tuple[str, str], list[Exception]] = {}
        self._lost: dict[tuple[str, str], list[Exception]] = {}
        self._created_at: dict[str, float] = {}  # id -> when it was created
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- arranging ---------------------------------------------------------------------
    def add_user(self, key: str, user_name: str, **attrs: Any) -> LiveUser:
        user_id = f"u-{key}"
        user = LiveUser(user_id, key, {"userName": user_name, "active": True, **attrs}, "1")
        self.users[user_id] = user
        return user

    def add_group(self, name: str, members: tuple[str, ...] = ()) -> LiveGroup:
        group = LiveGroup(f"g-{name}", name, frozenset(members), "1")
        self.groups[group.id] = group
        return group

    def fail(
        self, method: str, target: str, error: Exception | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``method`` on ``target`` raise ``error``
        (by default a 400 that no retry or lookup recovers from)."""
        error = error or ApiError("injected failure", status=400, method=method, path=target)
        self._failures.setdefault((method, target), []).extend([error] * times)

    def lose_answer(
        self, method: str, target: str, error: Exception | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``method`` on ``target`` take effect and then
        raise ``error`` (by default an unknown outcome: the answer was lost)."""
        error = error or OutcomeUnknown("connection reset; the answer was lost", method=method)
        self._lost.setdefault((method, target), []).extend([error] * times)

    def change(self, user_id: str, **attrs: Any) -> LiveUser:
        """Another writer's change to a user: new values (if any) and a new version."""
        user = self.users[user_id]
        new = LiveUser(user_id, user.external_id, {**user.attrs, **attrs}, _next(user.version))
        self.users[user_id] = new
        return new

    def _answer(self, method: str, target: str) -> None:
        """After a write took effect: raise the error its lost answer stands for."""
        with self._lock:
            queued = self._lost.get((method, target))
            error = queued.pop(0) if queued else None
        if error is not None:
            raise error

    def _searchable(self, resource_id: str) -> bool:
        return self.clock() >= self._created_at.get(resource_id, -1e9) + self.search_lag

    @staticmethod
    def _if_match(method: str, target: str, version: str | None, current: str | None) -> None:
        if version is not None and version != current:
            raise ApiError(
                f"version {version} is not the current {current}", status=412, method=method
            )

    def _call(self, method: str, target: str, kw: dict[str, Any]) -> None:
        trace: RequestTrace | None = kw.get("trace")
        if trace is not None:
            trace.attempts += 1
        if self.before_call is not None:
            self.before_call(method, target)
        with self._lock:
            if len(self.calls) >= MAX_CALLS:
                raise RuntimeError(f"{MAX_CALLS} calls: a loop that never ends")
            self.calls.append((method, target))
            self.request_stats.requests += 1
            queued = self._failures.get((method, target))
            error = queued.pop(0) if queued else None
        if error is not None:
            raise error

    # -- reads -------------------------------------------------------------------------
    def find_user(
        self, external_id: str | None = None, user_name: str | None = None, **kw: Any
    ) -> LiveUser | None:
        self._call("find_user", external_id or user_name or "", kw)
        found = [u for u in self.users.values() if self._searchable(u.id)]
        for user in found:
            if external_id and user.external_id == external_id:
                return user
        for user in found:
            if user_name and user.user_name.lower() == user_name.lower():
                return user
        return None

    def find_deleted_user(self, user_name: str, **kw: Any) -> DeletedUser | None:
        self._call("find_deleted_user", user_name, kw)
        return None

    def get_user(self, user_id: str, **kw: Any) -> LiveUser | None:
        self._call("get_user", user_id, kw)
        return self.users.get(user_id)

    def get_group(self, group_id: str, **kw: Any) -> LiveGroup:
        self._call("get_group", group_id, kw)
        return self.groups[group_id]

    def find_group(self, display_name: str, **kw: Any) -> LiveGroup | None:
        self._call("find_group", display_name, kw)
        found = (g for g in self.groups.values() if self._searchable(g.id))
        return next((g for g in found if g.name == display_name), None)

    def create_group(self, name: str, **kw: Any) -> LiveGroup:
        self._call("create_group", name, kw)
        if any(g.name == name for g in self.groups.values()):
            raise ApiError(f"group {name} exists", status=409, scim_type="uniqueness")
        group = self.add_group(name)
        self._created_at[group.id] = self.clock()
        self._answer("create_group", name)
        return group

    # -- writes ------------------------------------------------------------------------
    def create_user(self, body: dict[str, Any], **kw: Any) -> LiveUser:
        key = body["externalId"]
        self._call("create_user", key, kw)
        if any(u.user_name.lower() == body["userName"].lower() for u in self.users.values()):
            raise ApiError(
                f"userName {body['userName']} is taken", status=409, scim_type="uniqueness"
            )
        user_id = f"u{next(self._ids)}"
        attrs = {a: body[a] for a in USER_ATTRS if a in body}
        manager = body.get(ENTERPRISE_USER, {}).get("manager")
        if manager:
            attrs["manager"] = manager["value"]
        user = LiveUser(user_id, key, {"active": True, **attrs}, "1")
        self.users[user_id] = user
        self.bodies[user_id] = body
        self._created_at[user_id] = self.clock()
        self._answer("create_user", key)
        return user

    def patch_user(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser:
        self._call("patch_user", user_id, kw)
        user = self.users[user_id]
        self._if_match("PATCH", user_id, version, user.version)
        attrs, external_id = dict(user.attrs), user.external_id
        for op in body["Operations"]:
            if op["path"] == "externalId":
                external_id = op["value"]
            elif op["op"] == "remove":
                attrs.pop(op["path"], None)
            else:
                attrs[op["path"]] = op["value"]
        new = LiveUser(user_id, external_id, attrs, _next(user.version))
        self.users[user_id] = new
        self._answer("patch_user", user_id)
        return new

    def restore_user(self, user_id: str, version: int, **kw: Any) -> None:
        self._call("restore_user", user_id, kw)

    def delete_user(self, user_id: str, version: str | None, **kw: Any) -> None:
        self._call("delete_user", user_id, kw)
        self._if_match("DELETE", user_id, version, self.users[user_id].version)
        del self.users[user_id]
        self._answer("delete_user", user_id)

    def patch_group(
        self, group_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> str | None:
        self._call("patch_group", group_id, kw)
        group = self.groups[group_id]
        self._if_match("PATCH", group_id, version, group.version)
        sent = sum(len(op.get("value") or [None]) for op in body["Operations"])
        if self.max_patch_members is not None and sent > self.max_patch_members:
            raise ApiError("Payload Too Large", status=413, method="PATCH")
        members = set(group.members)
        for op in body["Operations"]:
            if op["op"] == "add":
                members |= {m["value"] for m in op["value"]}
            elif "value" in op:  # path members, value [{"value": ID}, ...]
                members -= {m["value"] for m in op["value"]}
            else:  # members[value eq "ID"]
                members.discard(op["path"].split('"')[1])
        new_version = _next(group.version)
        self.groups[group_id] = LiveGroup(group.id, group.name, frozenset(members), new_version)
        self._answer("patch_group", group_id)
        return new_version


def _next(version: str | None) -> str:
    return str(int(version or 0) + 1)


# -- plans -----------------------------------------------------------------------------
def create(key: str, manager: str | None = None) -> Action:
    """A create of ``key`` (``key.lower()@example.com``), reporting to ``manager``'s key."""
    user_name = f"{key.lower()}@example.com"
    changes = {"userName": Change(after=user_name), "displayName": Change(after=key)}
    if manager is not None:
        changes["manager"] = Change(after=manager)
    return Action(
        id=f"create:user:{key}", kind="create", resource="user", key=key,
        userName=user_name, changes=changes,
    )  # fmt: skip


def update(user: LiveUser, **after: Any) -> Action:
    """An update of a live, managed user: each keyword an attribute's new value."""
    changes = {k: Change(before=user.attrs.get(k), after=v) for k, v in after.items()}
    return Action(
        id=f"update:user:{user.external_id}", kind="update", resource="user",
        key=user.external_id or "", live_id=user.id, version=user.version,
        userName=user.user_name, changes=changes,
    )  # fmt: skip


def deactivate(user: LiveUser) -> Action:
    return Action(
        id=f"deactivate:user:{user.external_id}", kind="deactivate", resource="user",
        key=user.external_id or "", live_id=user.id, version=user.version,
        userName=user.user_name, changes={"active": Change(before=True, after=False)},
    )  # fmt: skip


def add_members(group: LiveGroup, *keys: str, live: dict[str, str] | None = None) -> Action:
    """Add users by key: new ones (created in the plan) or live ones (``live``: key -> id)."""
    live = live or {}
    return Action(
        id=f"add_members:group:{group.name}", kind="add_members", resource="group",
        key=group.name, live_id=group.id, version=group.version,
        members=[Member(key=k, id=live.get(k)) for k in keys],
    )  # fmt: skip


def remove_members(group: LiveGroup, *users: LiveUser) -> Action:
    return Action(
        id=f"remove_members:group:{group.name}", kind="remove_members", resource="group",
        key=group.name, live_id=group.id, version=group.version,
        members=[Member(key=u.external_id, id=u.id, userName=u.user_name) for u in users],
    )  # fmt: skip


def plan_of(*actions: Action, workspace: str = "unit", lineage: str = "", serial: int = 0) -> Plan:
    """A plan holding exactly ``actions``, made against state (lineage, serial)."""
    counts: dict[str, int] = {}
    for a in actions:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    return Plan(
        scimctl_version="test",
        workspace=workspace,
        target=PlanTarget(
            provider="scim",
            api_url="http://directory.invalid",
            login_url="http://directory.invalid",
        ),
        manifest_digest="sha256:test",
        state=PlanState(lineage=lineage, serial=serial),
        policy=PlanPolicy(
            max_group_depth=5,
            deny_permissions=[],
            deprovision="deactivate",
            max_deprovision="100%",
            password="none",
        ),  # fmt: skip
        actions=list(actions),
        summary=Summary(counts=counts, changes=len(actions)),
    )
