"""The recorded state (``cli/state.py``): state list, show, rm and unlock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimctl.errors import ConfigError, NotFound, StateError, run_error
from scimctl.model import StateView
from scimctl.state.interfaces import ApplyStore, Locker, LockInfo, ManagedRecords, StateStore


def db_upgrade(url: str, *, audit_key: str | None = None) -> str:
    """Create the state schema at ``url``, or migrate it to the newest revision: opening
    the store does it, in one transaction under the apply lock, and repairs a schema an
    older scimctl left half made. Returns the URL as it may be shown (no password)."""
    from scimctl.state import Store
    from scimctl.state.url import masked_url

    return masked_url(Store(url, create=True, audit_key=audit_key).url)


def state_list(store: StateStore, workspace: str) -> StateView:
    """Everything scimctl manages in ``workspace``: users, groups, memberships."""
    return store.state(workspace)


def state_show(store: ManagedRecords, workspace: str, key: str) -> dict[str, Any]:
    """One managed user (by externalId or userName, any case) or group (by name)."""
    from scimctl.records.managed import managed_record

    record = managed_record(store, workspace, key)
    if record is None:
        raise NotFound(f"nothing named {key!r} is managed in {workspace}")
    return record


@dataclass(frozen=True)
class Released:
    """What ``state rm`` stopped managing, and the run that records who and when."""

    resource: str  # user | group
    key: str
    live_id: str
    user_name: str | None
    run_id: str


def state_rm(
    store: ApplyStore, workspace: str, address: str, *, lock_timeout: float = 0.0
) -> Released:
    """Stop managing one user or group without touching it (Terraform's ``state rm``).

    The account keeps everything it has in Genesys; only the state forgets it, under
    the workspace lock, with the serial moved (plans made before are stale) and a
    journal row saying who released it and when.
    """
    kind, sep, name = address.partition(":")
    if not sep or kind not in ("user", "group") or not name:
        raise ConfigError(f"{address!r}: use user:KEY (externalId or userName) or group:NAME")
    view = store.state(workspace)
    user_name: str | None = None
    if kind == "user":
        key = name if name in view.users else None
        if key is None:
            key = next(
                (k for k, m in view.users.items() if m.user_name.lower() == name.lower()), None
            )
        if key is None:
            raise StateError(f"user {name!r} is not managed in {workspace}")
        live_id, user_name = view.users[key].id, view.users[key].user_name
    else:
        if name not in view.groups:
            raise StateError(f"group {name!r} is not managed in {workspace}")
        key, live_id = name, view.groups[name]
    run_id = store.start_run(workspace, "state-rm")
    try:
        with store.lock(workspace, run_id, timeout=lock_timeout):
            store.begin_apply(workspace, view.lineage, view.serial)
            with store.tx() as conn:
                store.append_operation(
                    conn,
                    {
                        "workspace": workspace, "run_id": run_id, "phase": "result",
                        "action_id": f"release:{kind}:{key}", "action": "release",
                        "resource": kind, "resource_key": key, "resource_id": live_id,
                        "user_name": user_name, "method": None, "path": None, "status": None,
                        "outcome": "ok", "attempts": 0, "latency_ms": None,
                        "error": None,
                    },
                )  # fmt: skip
                if kind == "user":
                    store.drop_user(conn, workspace, key)
                else:
                    store.drop_group(conn, workspace, key)
    except BaseException as exc:
        store.finish_run(run_id, "failed", error=run_error(exc))
        raise
    store.finish_run(run_id, "succeeded", summary={"released": f"{kind}:{key}"})
    return Released(kind, key, live_id, user_name, run_id)


def state_unlock(
    store: Locker, workspace: str, notify: Callable[[str], None] | None = None
) -> LockInfo | None:
    """Release the lock a crashed apply left on ``workspace``; what held it, or None
    when nothing did. ``notify`` hears what the release found on the way."""
    return store.unlock(workspace, notify=notify)
