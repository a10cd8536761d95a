"""Apply's writes to groups: the create, and membership changes cut to fit the
service's body limit.

A create is never sent twice blind: an unknown outcome is looked up by displayName
(search may lag) before the POST goes again, as user creates are. Additions and
removals go in separate PATCHes, so a refused removal cannot sink the additions nor
the reverse; both are deltas, so a version conflict is retried with the current
version without undoing another writer's change.
"""

from __future__ import annotations

from collections import deque

from scimctl.apply.context import (
    CREATE_ATTEMPTS,
    VERSION_RETRIES,
    Commit,
    RunContext,
    filter_form_refused,
    live_id,
)
from scimctl.apply.graph import Node
from scimctl.apply.results import OpResult
from scimctl.errors import ApiError, OperationFailed, OutcomeUnknown
from scimctl.model import LiveGroup
from scimctl.plan.model import Action
from scimctl.scim.mapping import members_patch
from scimctl.scim.transport import RequestTrace
from scimctl.text import count as counted

MEMBER_CHUNK = 500
# Genesys refuses bodies over request.bytes.max (512,000); group PATCHes stay well under.
MEMBER_BODY_BYTES = 256_000


class GroupWrites:
    """One run's group operations; ``member_chunk`` is shared by all of them."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.member_chunk = MEMBER_CHUNK  # lowered for the rest of the run by a 413

    def create(self, action: Action, count: RequestTrace) -> Commit:
        """POST the group, never twice: an unknown outcome is looked up by displayName
        (search may lag) before the POST is sent again, as user creates are."""
        unknown = False
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                group = self.client.create_group(action.key, trace=count)
                break
            except OutcomeUnknown as exc:
                unknown = True
                found = self._look_up(action.key, count, self.client.search_wait)
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
                    self._look_up(action.key, count, self.client.conflict_wait) if unknown else None
                )
                if found is None:
                    raise OperationFailed(
                        f"group {action.key!r} exists already (409): it was created since "
                        "the plan was made; run plan again",
                        409,
                    ) from None
                group = found
                break
        ctx = self.ctx
        with ctx.lock:
            ctx.created_groups[action.key] = group
        ws, store = ctx.workspace, ctx.store
        return lambda conn: store.put_memberships(conn, ws, action.key, group.id, [], [])

    def _look_up(self, name: str, count: RequestTrace, wait: float) -> LiveGroup | None:
        """The group named ``name``, asked again with backoff for ``wait`` seconds."""
        return self.ctx.look_again(lambda: self.client.find_group(name, trace=count), wait)

    def write(self, node: Node, count: RequestTrace, res: OpResult) -> Commit | None:
        """A group node's additions and removals; None when nothing was sent."""
        ctx = self.ctx
        group = node.actions[0]
        if group.live_id is None:  # created earlier in this run (build_graph's dependency)
            with ctx.lock:
                new = ctx.created_groups[group.key]
            group = group.model_copy(update={"live_id": new.id, "version": new.version})
        add_ids: list[str] = []
        add_keys: list[str] = []
        remove_ids: list[str] = []
        remove_keys: list[str] = []
        missing: list[str] = []
        for action in node.actions:
            for m in action.members:
                if action.kind == "add_members":
                    member_id = m.id or ctx.created.get(m.key or "")
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
        ws, store = ctx.workspace, ctx.store
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
        fallbacks = self.ctx.fallbacks
        pending = deque((op, i) for i in ids)
        conflicts = 0
        while pending:
            chunk = [pending.popleft() for _ in range(self._chunk_size(pending))]
            add = [i for kind, i in chunk if kind == "add"]
            remove = [i for kind, i in chunk if kind == "remove"]
            removal = fallbacks.member_removal
            try:
                version = self.client.patch_group(
                    group_id, members_patch(add, remove, removal), version, trace=count
                )
                continue
            except ApiError as exc:
                if exc.status == 413 and len(chunk) > 1:
                    with self.ctx.lock:
                        self.member_chunk = max(1, min(self.member_chunk, len(chunk) // 2))
                    pending.extendleft(reversed(chunk))
                    continue
                if remove and removal == "filter" and filter_form_refused(exc):
                    fallbacks.switch(
                        "member_removal", "value",
                        f'the service refused member removal by filter (members[value eq "…"]): '
                        f"HTTP {exc.status}; removals were sent as "
                        '{"op": "remove", "path": "members", "value": [...]} '
                        "for the rest of the run",
                    )  # fmt: skip
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
