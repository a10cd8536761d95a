"""Apply's one write for a ``grants`` action: ``bulkremove``, ``bulkadd``, read back.

Both calls are idempotent, so a retry after a lost reply is safe. Removals go first
(a failure halfway leaves less access, never more). The account is then read back
through ``GET /subjects/{id}``: a grant that did not stick fails the operation, so
the next plan shows it again rather than a success being recorded.
"""

from __future__ import annotations

from typing import Any, Protocol

from scimctl.errors import OperationFailed
from scimctl.model import StateView
from scimctl.model.grants import ALL_DIVISIONS, GrantRef
from scimctl.plan.grants import grant_delta
from scimctl.plan.model import Action, Plan
from scimctl.scim.transport import RequestTrace


class GrantWriter(Protocol):
    def change_grants(self, user_id: str, how: str, refs: list[GrantRef], **kw: Any) -> None: ...

    def subject_grants(self, user_id: str, **kw: Any) -> list[dict[str, Any]]: ...


def write_grants(client: GrantWriter, user_id: str, action: Action, count: RequestTrace) -> None:
    removed, added = grant_delta(action)
    client.change_grants(user_id, "remove", removed, trace=count)
    client.change_grants(user_id, "add", added, trace=count)
    held = set()
    for g in client.subject_grants(user_id, trace=count):
        if g.get("subjectId", user_id) != user_id:
            continue  # inherited from a group: not ours to count
        role = (g.get("role") or {}).get("id")
        division = (g.get("division") or {}).get("id")
        held.add((role, ALL_DIVISIONS if division == ALL_DIVISIONS else division))
    missing = [str(r.grant) for r in added if (r.role_id, r.division_id) not in held]
    left = [str(r.grant) for r in removed if (r.role_id, r.division_id) in held]
    if missing or left:
        parts = [f"not granted: {', '.join(missing)}"] if missing else []
        parts += [f"still granted: {', '.join(left)}"] if left else []
        raise OperationFailed(
            f"the grants did not stick ({'; '.join(parts)}); the next plan shows them again"
        )


def applied_record(
    plan: Plan, state: StateView, action: Action, user_id: str
) -> tuple[str, str, str, dict[str, Any], str | None]:
    """What the state records once a grants action went through: the user's last
    applied attributes with ``grants`` (so ``additive`` ownership knows which grants
    scimctl made, and a later plan sees grants changed by hand as drift).

    ``state`` was read once, before this run's writes: a user written earlier in this
    run takes its attributes from the plan's action for it instead."""
    key = action.key
    managed = state.users.get(key)
    attrs = dict(state.applied.get(key) or {})
    user_name = managed.user_name if managed else action.userName or ""
    version = managed.version if managed else None
    for other in plan.actions:
        if other.key != key or other.resource != "user" or other is action:
            continue
        if other.kind in ("create", "restore"):
            attrs = {}
        attrs.update({k: c.after for k, c in other.changes.items() if k != "externalId"})
        if "userName" in other.changes:
            user_name = other.changes["userName"].after or user_name
    grants = action.changes.get("grants")
    attrs["grants"] = grants.after if grants is not None else []
    return (
        key,
        user_id,
        user_name,
        _without_removed_roles(without_kept(attrs, plan, key), action),
        version,
    )


def _without_removed_roles(attrs: dict[str, Any], action: Action) -> dict[str, Any]:
    """``attrs`` without the SCIM ``roles`` values whose every grant scimctl made this
    action removed: a grant of the role someone else made may keep it in ``roles``,
    and additive ownership must then see it as theirs, not scimctl's to take away."""
    removed, _ = grant_delta(action)
    left = {str(d.get("role")) for d in attrs.get("grants") or [] if isinstance(d, dict)}
    gone = {r.role for r in removed} - left
    roles = attrs.get("roles")
    if not gone or not isinstance(roles, list):
        return attrs
    return {**attrs, "roles": [r for r in roles if r not in gone]}


def without_kept(attrs: dict[str, Any], plan: Plan, key: str) -> dict[str, Any]:
    """``attrs`` as the state records them: without the values additive ownership kept
    (someone else's, grants included), so a later plan still knows they are not
    scimctl's to remove."""
    out = dict(attrs)
    for kept in plan.left_alone:
        if kept.key != key or kept.ownership != "additive" or kept.attribute not in out:
            continue
        drop = {_freeze(v) for v in kept.values or []}
        value = out[kept.attribute]
        if isinstance(value, list):
            out[kept.attribute] = [v for v in value if _freeze(v) not in drop]
    return out


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, str(v)) for k, v in value.items()))
    return tuple(value) if isinstance(value, list) else value
