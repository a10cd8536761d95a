"""The journal's rows: what an operation is about to send (``intent``) and how it
ended (``result``), with the attribute changes it carries and never a secret.

The intent row is written before anything is sent and the result row, in one
transaction with the state change and the outbox event, after: a crash at any
moment leaves a journal that says what may have reached the service.
"""

from __future__ import annotations

import re
from typing import Any

from scimctl.apply.graph import Node
from scimctl.apply.results import OpResult
from scimctl.plan.model import Action
from scimctl.scim.client import PLATFORM_USERS
from scimctl.scim.ids import id_problem, item_path, shown
from scimctl.scim.platform_grants import SUBJECTS

SECRET_ATTR = re.compile(r"pass(word)?|secret|token|credential", re.IGNORECASE)


def journal_row(
    node: Node, phase: str, workspace: str, run_id: str, resource_id: str | None,
    res: OpResult | None = None, method: str | None = None, path: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One journal row, with the attribute changes (or members) it carries.

    ``resource_id`` is the live id written to (the plan's, or the one this run
    created). A group's additions and removals are one node, so they are one row,
    named with the plan's words (``add_members``, ``remove_members`` or both).
    """
    action = node.actions[0]
    user_name = action.userName
    if "userName" in action.changes:
        user_name = action.changes["userName"].after or user_name
    return {
        "workspace": workspace,
        "run_id": run_id,
        "phase": phase,
        "action_id": node.name,
        "action": "+".join(a.kind for a in node.actions),
        "resource": action.resource,
        "resource_key": action.key,
        "resource_id": resource_id,
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


def route(
    node: Node, users_path: str, groups_path: str, created_id: str | None
) -> tuple[str | None, str | None]:
    """The method and path the intent row names (None for a node that sends nothing).

    ``created_id`` is the live id this run created for the node's resource, if any."""
    action = node.actions[0]
    if action.kind == "create_group":
        return "POST", groups_path
    if action.resource == "group":
        return "PATCH", _path(groups_path, action.live_id or created_id)
    if action.kind == "create":
        return "POST", users_path
    if action.kind == "restore":
        return "PATCH", _path(PLATFORM_USERS, action.live_id)
    if action.kind == "delete":
        return "DELETE", _path(users_path, action.live_id)
    if action.kind in ("forget", "release") or not action.changes:
        return None, None
    if action.kind == "grants":
        return "POST", _path(SUBJECTS, action.live_id or created_id) + "/bulk*"
    return "PATCH", _path(users_path, action.live_id)


def _path(collection: str, value: str | None) -> str:
    """The path a write to ``value`` goes to, as the journal records it; a bad id is
    shown escaped (the write itself refuses it)."""
    if value is not None and id_problem(value) is None:
        return item_path(collection, value)
    return f"{collection}/{shown(value)}"
