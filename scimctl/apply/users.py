"""Apply's writes to user accounts: create, restore, update, deactivate, delete,
forget, grants, and what each records in the state once it went through.

A create is never sent twice blind: when its outcome is unknown (the answer was
lost), the account is looked up by externalId, then userName, for the client's
``search_wait`` (search may lag) before the POST goes again; a 409 after an unknown
outcome is our own first try, looked up for ``conflict_wait``. A PATCH carries the
plan's version (If-Match); a version conflict is checked by a GET by id and sent
again only when nothing the operation changes was changed under it.
"""

from __future__ import annotations

import secrets
import string
from typing import Any, cast

from scimctl.apply.context import (
    CREATE_ATTEMPTS,
    VERSION_RETRIES,
    Commit,
    RunContext,
    filter_form_refused,
    live_id,
)
from scimctl.apply.grants import GrantWriter, applied_record, without_kept, write_grants
from scimctl.apply.outbox import queue_event
from scimctl.apply.restore_check import not_restored
from scimctl.apply.results import OpResult
from scimctl.errors import ApiError, OperationFailed, OutcomeUnknown
from scimctl.model import LiveUser, StateView, same
from scimctl.plan.model import Action
from scimctl.plan.stored import not_stored, remember, unsupported
from scimctl.scim.entries import PER_ENTRY
from scimctl.scim.mapping import user_patch, user_to_scim
from scimctl.scim.transport import RequestTrace
from scimctl.state.applied import carried_over
from scimctl.text import count as counted


def temporary_password(length: int = 20) -> str:
    """Strong and policy-friendly: every character class at least once."""
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#$%*+-=?@^_"]
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class UserWrites:
    """One run's user operations; the state is read once a run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self._known_ids = {a.key: a.live_id for a in ctx.plan.actions if a.resource == "user"}
        self._view: StateView | None = None

    def write(self, action: Action, count: RequestTrace, res: OpResult) -> Commit:
        """Send ``action``; return what the state records once the result is written."""
        ctx = self.ctx
        ws, store = ctx.workspace, ctx.store
        if action.kind in ("forget", "release"):
            return lambda conn: store.drop_user(conn, ws, action.key)
        if action.kind == "grants":
            return self._grants(action, count)
        if action.kind == "restore":
            return self._restore(action, count, res)
        if action.kind == "create":
            live, password = self._create(action, count)
            with ctx.lock:
                ctx.created[action.key] = live.id
            res.not_stored = not_stored(action.after, live)
            kept = remember(action.after, res.not_stored, action.after)

            def commit(conn: Any) -> None:
                store.put_user(conn, ws, action.key, live.id, live.user_name, kept, live.version)
                queue_event(ctx, conn, action, live.id, live.user_name, password_sent=password)

            return commit
        if action.kind == "delete":
            self._delete(action, count)

            def commit_delete(conn: Any) -> None:
                store.drop_user(conn, ws, action.key)
                queue_event(ctx, conn, action, action.live_id, action.userName)

            return commit_delete
        return self._update(action, count, res)

    # -- grants, restore, update ---------------------------------------------------------
    def _grants(self, action: Action, count: RequestTrace) -> Commit:
        ctx = self.ctx
        ws, store = ctx.workspace, ctx.store
        user_id = action.live_id or ctx.created_id(action)
        if user_id is None:
            raise OperationFailed(f"{action.id}: the account has no live id")
        write_grants(cast(GrantWriter, self.client), user_id, action, count)
        record = applied_record(ctx.plan, self._state(), action, user_id)
        return lambda conn: store.put_user(conn, ws, *record)

    def _restore(self, action: Action, count: RequestTrace, res: OpResult) -> Commit:
        ctx = self.ctx
        ws, store = ctx.workspace, ctx.store
        live = self._send_restore(action, count)
        with ctx.lock:
            ctx.created[action.key] = live.id
        wanted = {k: c.after for k, c in action.changes.items() if k != "externalId"}
        back = self.client.get_user(live.id, trace=count)
        missing = not_restored(self.with_manager_id(wanted), back)
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
            queue_event(ctx, conn, action, live.id, live.user_name)

        return commit_restore

    def _update(self, action: Action, count: RequestTrace, res: OpResult) -> Commit:
        """An update, deactivation or rekey: a PATCH of the changes, if any."""
        ctx = self.ctx
        ws, store = ctx.workspace, ctx.store
        old = action.changes["externalId"].before if action.kind == "rekey" else None
        patched = self._patch(action, count) if action.changes else None
        user_name = patched.user_name if patched else action.userName
        attrs = {k: v for k, v in (patched.attrs if patched else {}).items() if v not in (None, [])}
        attrs = without_kept(attrs, ctx.plan, action.key)  # additive: not scimctl's
        version = patched.version if patched else action.version
        if patched is not None:
            sent = {k: c.after for k, c in action.changes.items() if k != "externalId"}
            res.not_stored = not_stored(sent, patched)
            attrs = remember(
                attrs, res.not_stored, sent, unsupported(self._applied_before(old or action.key))
            )

        if old and old != action.key:
            # The old key's record moves with the rekey: which grants scimctl made
            # (and the like) stay known, so additive ownership can still remove them.
            attrs = carried_over(self._applied_before(old), attrs)

        def commit_patch(conn: Any) -> None:
            if old and old != action.key:
                store.drop_user(conn, ws, old)
            store.put_user(conn, ws, action.key, live_id(action), user_name or "", attrs, version)
            queue_event(ctx, conn, action, action.live_id, user_name)

        return commit_patch

    def _applied_before(self, key: str) -> Any:
        """The record the state holds for ``key``."""
        return self._state().applied.get(key)

    def _state(self) -> StateView:
        """The state as this run first read it. Read outside the run's lock (see
        RunContext): two workers may both read it at first, and either view serves, as
        what a node looks up there (its own record, a manager's live id) is not changed
        by the run's other nodes."""
        if self._view is None:
            self._view = self.ctx.store.state(self.ctx.workspace)
        return self._view

    def with_manager_id(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The manager's key replaced by its live id (created in this run, or known)."""
        key = attrs.get("manager")
        if not key:
            return attrs
        with self.ctx.lock:
            manager_id = self.ctx.created.get(key) or self._known_ids.get(key)
        if manager_id is None:
            known = self._state().users.get(key)
            manager_id = known.id if known else None
        if manager_id is None and "@" in key:  # an unmanaged manager named by userName
            found = self.client.find_user(None, key)
            manager_id = found.id if found else None
        if manager_id is None:
            raise OperationFailed(f"manager {key!r} has no account")
        return {**attrs, "manager": manager_id}

    # -- the requests ----------------------------------------------------------------------
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
        ctx = self.ctx
        password = None
        if ctx.plan.policy.password == "generate":
            password = temporary_password()
        body = user_to_scim(self.with_manager_id(action.after), action.key, password)
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
        if password is not None and ctx.on_password is not None:
            user = {
                "externalId": action.key,
                "id": live.id,
                "userName": live.user_name,
                "run_id": ctx.run_id,
            }
            sent = ctx.on_password(user, password)
        return live, sent

    def _look_up(self, action: Action, count: RequestTrace, wait: float) -> LiveUser | None:
        """This create's account by externalId, then userName, asked again with backoff
        for ``wait`` seconds, since search may not show a new account yet."""

        def find() -> LiveUser | None:
            found = self.client.find_user(action.key, action.after.get("userName"), trace=count)
            return found if found is not None and found.external_id == action.key else None

        return self.ctx.look_again(find, wait)

    def _send_restore(self, action: Action, count: RequestTrace) -> LiveUser:
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

    def _patch(self, action: Action, count: RequestTrace) -> LiveUser:
        """PATCH with If-Match; a version conflict is checked by a GET by id.

        The plan's version may come from a lagging listing. If the attributes this
        operation changes still hold what the plan saw, nothing was changed under
        us: send again with the current version. If they already hold the new values
        (our own earlier attempt landed), it is done. Anything else is a real change
        since the plan, and the operation fails."""
        fallbacks = self.ctx.fallbacks
        changes = {k: c.after for k, c in action.changes.items() if k != "externalId"}
        changes = self.with_manager_id(changes)
        ext = action.changes["externalId"].after if "externalId" in action.changes else None
        before = {k: c.before for k, c in action.changes.items()}
        by_entry = any(k in PER_ENTRY or k == "userName" for k in changes)
        version = action.version
        tries = 0
        while True:
            tries += 1
            per_entry = by_entry and fallbacks.multi_valued == "entry"
            body = user_patch(changes, ext, before=before, per_entry=per_entry)
            try:
                return self.client.patch_user(live_id(action), body, version, trace=count)
            except ApiError as exc:
                if per_entry and filter_form_refused(exc):
                    # The service takes no value-filter paths: write lists whole.
                    fallbacks.switch(
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


def _as_planned(action: Action, live: LiveUser) -> bool:
    """Whether the attributes ``action`` changes still hold what the plan saw."""
    for name, change in action.changes.items():
        now = live.external_id if name == "externalId" else live.attrs.get(name)
        if not same(name, now, change.before):
            return False
    return True
