"""What apply refuses whatever the plan file says, and the check that it is the reviewed plan.

The recomputation in :func:`check_reviewed` is the guarantee: apply runs a plan
only when the manifest, the directory and the state produce exactly the same
actions now. The policy rules in :func:`policy_violations` come first because
they name the broken rule ("a delete, but policy.deprovision is deactivate")
instead of a bare difference, and because they hold for any caller of the
library, with or without a recomputation. Both judge the file by the manifest's
policy, never by the policy the file claims.
"""

from __future__ import annotations

from typing import Any

from scimctl.apply.recompute import Recomputed
from scimctl.errors import PlanNotReviewed, PlanRefused
from scimctl.governance.evaluate import evaluate_plan
from scimctl.model import Desired, Snapshot, StateView
from scimctl.plan.checks import denied
from scimctl.plan.compare import compare_plans
from scimctl.plan.diff import deprovision_limit
from scimctl.plan.grants import grant_guard
from scimctl.plan.model import DEPROVISION_KINDS, Action, Plan
from scimctl.plan.redact import redact_plan
from scimctl.text import count as counted


def _deprovisions(action: Action) -> bool:
    """A deactivation or deletion, including one hidden in an adoption or an update."""
    if action.kind in DEPROVISION_KINDS:
        return True
    if action.kind in ("create", "restore"):
        return False  # a new or restored account starting inactive takes nobody's access
    active = action.changes.get("active")
    return bool(active is not None and active.before is not False and active.after is False)


def policy_violations(
    plan: Plan,
    desired: Desired,
    snapshot: Snapshot,
    state: StateView,
    *,
    max_deprovision: int | None = None,
) -> list[str]:
    """Every action of ``plan`` that the manifest's policy or ownership rules forbid."""
    policy = desired.policy
    out: list[str] = []
    owner = {m.id: key for key, m in state.users.items()}
    roles = {r.name: r for r in snapshot.roles}
    groups = {g.name: g for g in snapshot.groups}
    adopted: set[str | None] = {a.live_id for a in plan.actions if a.kind == "adopt" and a.live_id}
    for a in plan.actions:
        where = f"{a.kind} {a.resource} {a.key}" + (f" (live id {a.live_id})" if a.live_id else "")
        if a.kind == "grants":
            out += grant_guard(plan, a, where, desired, snapshot, state)
            continue
        if a.resource == "user":
            out += _user_rules(a, where, desired, state, owner, policy.deprovision)
        else:
            out += _group_rules(a, where, desired, groups, owner, adopted)
        if snapshot.roles_known:  # a generic SCIM service has no catalogue (as plan's checks)
            out += _role_rules(a, where, roles, policy.deny_permissions)
    out += _rule_violations(plan, desired, snapshot, state)
    count = sum(1 for a in plan.actions if _deprovisions(a))
    if max_deprovision is not None:
        limit, source = max_deprovision, "--max-deprovision"
    else:
        limit = deprovision_limit(policy.max_deprovision, len(state.users))
        source = f"policy.max_deprovision ({policy.max_deprovision} of {len(state.users)} managed)"
    if count > limit:
        out.append(
            f"{counted(count, 'deactivation or deletion', 'deactivations and deletions')} "
            "(adoptions and updates included) exceed "
            f"the limit of {limit} from {source}; if intended, apply with --max-deprovision {count}"
        )
    return out


def _user_rules(
    a: Action,
    where: str,
    desired: Desired,
    state: StateView,
    owner: dict[str, str],
    deprovision: str,
) -> list[str]:
    out = []
    spec = desired.users.get(a.key)
    managed = state.users.get(a.key)
    if a.kind in ("create", "adopt"):
        if spec is None:
            out.append(f"{where}: {a.key} is not in the manifest")
        if a.kind == "create" and a.live_id is not None:
            out.append(f"{where}: a create cannot target an existing account")
        if a.kind == "adopt" and a.live_id in owner and owner[a.live_id] != a.key:
            out.append(f"{where}: the account is managed as {owner[a.live_id]}")
        return out
    if a.kind == "restore":
        if spec is None:
            out.append(f"{where}: {a.key} is not in the manifest")
        if a.live_id is not None and a.live_id in owner and owner[a.live_id] != a.key:
            out.append(f"{where}: the account is managed as {owner[a.live_id]}")
        return out
    if a.kind == "release":
        # Nothing is sent: the state only forgets an account the manifest excludes.
        if managed is None:
            out.append(f"{where}: the account is not one scimctl manages as {a.key}")
        return out
    if a.kind == "rekey":
        # The account moves from an earlier key the manifest names for this person.
        old = a.changes["externalId"].before if "externalId" in a.changes else None
        if spec is None:
            out.append(f"{where}: {a.key} is not in the manifest")
        elif old not in spec.previous_keys:
            out.append(f"{where}: {old!r} is not among {a.key}'s previousExternalIds")
        elif a.live_id in owner and owner[a.live_id] not in (a.key, old):
            out.append(f"{where}: the account is managed as {owner[a.live_id]}")
        return out
    if managed is None or (a.live_id is not None and a.live_id != managed.id):
        return [f"{where}: the account is not one scimctl manages as {a.key}"]
    if a.kind == "delete" and (spec is not None or deprovision != "delete"):
        out.append(f"{where}: a delete, but policy.deprovision is {deprovision}")
    if a.kind == "deactivate":
        wanted_inactive = spec is not None and spec.attrs.get("active") is False
        if not wanted_inactive and (spec is not None or deprovision != "deactivate"):
            out.append(f"{where}: a deactivation that neither the manifest nor policy asks for")
    if a.kind in ("update", "reactivate") and spec is None:
        out.append(f"{where}: {a.key} is not in the manifest")
    return out


def _group_rules(
    a: Action,
    where: str,
    desired: Desired,
    groups: dict[str, Any],
    owner: dict[str, str],
    adopted: set[str | None],
) -> list[str]:
    spec = desired.groups.get(a.key)
    if spec is None:
        return [f"{where}: the group is not in the manifest"]
    live = groups.get(a.key)
    if a.kind == "create_group" or (live is None and a.live_id is None):
        # A new group: only one the manifest opts in to creating, and only while the
        # directory lacks it; its members can only be added.
        if not spec.create:
            return [f"{where}: the manifest does not opt in to creating it (create: true)"]
        if live is not None:
            return [f"{where}: the group exists already (live id {live.id})"]
        if a.live_id is not None:
            return [f"{where}: a group create cannot target an existing group"]
        if a.kind == "remove_members":
            return [f"{where}: a group that does not exist yet has no members to remove"]
        return []
    if live is None or a.live_id != live.id:
        return [f"{where}: the live id is not group {a.key!r}'s"]
    if a.kind != "remove_members" or spec.authoritative:
        return []
    return [
        f"{where}: removes member {m.id}, whom scimctl does not manage "
        "(the group is not authoritative)"
        for m in a.members
        if m.id not in owner and m.id not in adopted
    ]


def _rule_violations(
    plan: Plan, desired: Desired, snapshot: Snapshot, state: StateView
) -> list[str]:
    """policy.rules judged on what the file's actions would leave behind: a role added
    to a saved plan by hand is named here, whatever the file's own verdict says."""
    verdict = evaluate_plan(plan, desired, snapshot, state)
    if verdict is None:
        return []
    return [
        f"policy.rules {f.rule}: user {f.user} {f.detail}"
        + (f" ({f.where})" if f.where else "")
        + (f"; the exception ended {f.expired}" if f.expired else "")
        for f in verdict.blocking
    ]


def _role_rules(a: Action, where: str, roles: dict[str, Any], deny: tuple[str, ...]) -> list[str]:
    change = a.changes.get("roles")
    granted = change.after if change is not None and isinstance(change.after, list) else []
    out = []
    for name in granted:
        role = roles.get(name)
        if role is None:
            out.append(f"{where}: role {name!r} does not exist in the directory")
            continue
        for perm, pattern in denied(role.permissions, deny):
            out.append(
                f"{where}: role {name!r} grants {perm!r}, denied by policy pattern {pattern!r}"
            )
    return out


def check_reviewed(
    plan: Plan,
    now: Recomputed,
    desired: Desired,
    state: StateView,
    *,
    max_deprovision: int | None = None,
    source: str = "the plan",
) -> Plan:
    """The plan computed now, if ``plan`` is exactly it and breaks no rule; else refuse.

    ``now`` is :func:`~scimctl.apply.recompute.recompute`'s result for the manifest's
    target, never the file's: the file's is only compared. Raises
    :class:`PlanNotReviewed` naming every rule broken and every difference.
    """
    violations = policy_violations(
        plan, desired, now.snapshot, state, max_deprovision=max_deprovision
    )
    if isinstance(now.outcome, PlanRefused):
        why = f"the plan computed now: {now.outcome}"
        raise PlanNotReviewed(source, [*violations, why], [])
    try:
        # A redacted file shows masked values: compare through the same mask, and run
        # the values computed now, never the file's masks.
        computed = now.plan()
        seen = redact_plan(computed, plan.review.redact) if plan.review.redacted else computed
    except ValueError as exc:  # a redact list no manifest could have written
        raise PlanNotReviewed(source, [*violations, f"review.redact: {exc}"], []) from None
    differences = compare_plans(plan, seen)
    if violations or differences:
        raise PlanNotReviewed(source, violations, differences)
    return computed
