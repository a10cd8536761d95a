"""Planning division-scoped role grants: checks, the diff, and what apply may run.

A manifest role with ``divisions`` is managed as grants (role x division) through
the Platform API; see :mod:`scimctl.model.grants`. Per user, the plan compares the direct
grants of each scoped role (read per role by ``subjectgrants``) with the divisions
the manifest names and emits one ``grants`` action carrying both sides, with ids,
so apply sends exactly one ``bulkremove`` and one ``bulkadd`` and the history keeps
before and after. Grants of roles the manifest does not scope, and grants inherited
from groups, are never touched.

The SCIM ``roles`` attribute keeps working as before for plain role names; a scoped
role is never sent through SCIM (that would grant it in the user's own division):
the desired ``roles`` keep whatever scoped role the user already holds, and the
grants action adds or removes the rest.
"""

from __future__ import annotations

from typing import Any

from scimctl.errors import Problem
from scimctl.model import Desired, LiveUser, Snapshot, StateView, UserSpec
from scimctl.model.grants import ALL_DIVISIONS, GrantRef, desired_grants, grant_docs, grant_names
from scimctl.model.ownership import Kept
from scimctl.plan.checks import denied, names_of
from scimctl.plan.model import Action, Change, Effect, Plan
from scimctl.text import count

KIND = "grants"


def _where(spec: UserSpec) -> str:
    return str(spec.location) if spec.location else "manifest"


def grant_problems(desired: Desired, snapshot: Snapshot) -> list[Problem]:
    """Unknown roles or divisions, and grants the policy denies, per role x division."""
    users: dict[tuple[str, str], list[UserSpec]] = {}
    for key in sorted(desired.users):
        spec = desired.users[key]
        for g in sorted(desired_grants(spec.scopes)):
            users.setdefault((g.role, g.division), []).append(spec)
    if not users:
        return []
    if not snapshot.roles_known or snapshot.divisions is None:
        first = next(iter(users.values()))[0]
        return [
            Problem(
                _where(first),
                "roles",
                "roles with divisions need a Genesys Cloud target (provider genesys): "
                "this service has no division grants",
            )
        ]
    roles = {r.name: r for r in snapshot.roles}
    divisions = {d.name: d for d in snapshot.divisions}
    problems = []
    for (role_name, division), specs in sorted(users.items()):
        reach = f"{count(len(specs), 'user')}: {names_of(specs)}"
        role = roles.get(role_name)
        if role is None:
            problems.append(
                Problem(_where(specs[0]), "roles", f"role {role_name!r} does not exist ({reach})")
            )
            continue
        if division != ALL_DIVISIONS and division not in divisions:
            problems.append(
                Problem(
                    _where(specs[0]),
                    "roles",
                    f"role {role_name!r}: division {division!r} does not exist ({reach})",
                )
            )
            continue
        for perm, pattern in denied(role.permissions, desired.policy.deny_permissions):
            shown = "all divisions" if division == ALL_DIVISIONS else f"division {division!r}"
            problems.append(
                Problem(
                    _where(specs[0]),
                    "roles",
                    f"role {role_name!r} in {shown} refused: it grants {perm!r}, denied "
                    f"by policy pattern {pattern!r} ({reach})",
                )
            )
            break
    return problems


def roles_attr(attrs: dict[str, Any], spec: UserSpec, live: LiveUser | None) -> dict[str, Any]:
    """The SCIM ``roles`` to want: the plain names, plus the scoped roles the user
    holds already (their divisions are the grants action's business)."""
    if not spec.scopes or "roles" not in attrs:
        return attrs
    scoped = {s.role for s in spec.scopes}
    held = set(live.attrs.get("roles") or []) & scoped if live else set()
    return {**attrs, "roles": sorted(set(attrs["roles"]) | held)}


def dropped_roles(spec: UserSpec, mode: str, applied: dict[str, Any] | None) -> set[str]:
    """Roles scimctl granted per division (the record's ``grants``) that the manifest
    no longer scopes for the user. Under ``additive`` ownership their grants go through
    ``bulkremove``, never a SCIM ``roles`` write: that would take the role away in
    every division, grants someone else made included."""
    if mode != "additive":
        return set()
    recorded = (applied or {}).get("grants")
    mine = {str(d.get("role")) for d in recorded or [] if isinstance(d, dict)}
    return mine - {s.role for s in spec.scopes}


def keep_granted_roles(
    attrs: dict[str, Any], spec: UserSpec, live: LiveUser | None, mode: str,
    applied: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """The SCIM ``roles`` to want, keeping the :func:`dropped_roles` the user holds:
    the grants action removes scimctl's grants of them, and Genesys drops the role
    itself once no grant of it is left."""
    if live is None or "roles" not in attrs:
        return attrs
    held = dropped_roles(spec, mode, applied) & set(live.attrs.get("roles") or [])
    if not held - set(attrs["roles"] or []):
        return attrs
    return {**attrs, "roles": sorted(set(attrs["roles"] or []) | held)}


def grant_action(
    key: str,
    spec: UserSpec,
    live: LiveUser | None,
    user_action: Action | None,
    snapshot: Snapshot,
    mode: str = "authoritative",
    applied: dict[str, Any] | None = None,
    left_alone: list[Kept] | None = None,
) -> Action | None:
    """The grants to add and remove for one user, or None when they are as wanted.

    ``mode`` is the ownership of ``roles``: ``additive`` removes only grants scimctl
    made itself (the state's last applied ``grants``), ``ignore`` grants on create only.
    """
    dropped = dropped_roles(spec, mode, applied)
    if not spec.scopes and not dropped:
        return None
    new = user_action is not None and user_action.kind in ("create", "restore")
    if mode == "ignore" and live is not None and not new:
        return None
    roles = {r.name: r.id for r in snapshot.roles}
    division_ids = {d.name: d.id for d in snapshot.divisions or ()}
    division_ids[ALL_DIVISIONS] = ALL_DIVISIONS
    want = {
        GrantRef(g.role, g.division, roles[g.role], division_ids[g.division])
        for g in desired_grants(spec.scopes)
    }
    scoped = {s.role for s in spec.scopes} | dropped
    have: set[GrantRef] = set()
    if live is not None and not new:
        have = {r for r in snapshot.grants.get(live.id, ()) if r.role in scoped}
    if mode == "additive":
        mine = set(grant_names((applied or {}).get("grants")))
        kept = {r for r in have if str(r.grant) not in mine and r not in want}
        if kept and left_alone is not None:
            left_alone.append(Kept(key, spec.attrs["userName"], "grants", mode, grant_docs(kept)))
        want |= kept
    if {r.grant for r in want} == {r.grant for r in have}:
        return None
    live_id = live.id if live is not None else None
    if user_action is not None and user_action.kind == "restore":
        live_id = user_action.live_id
    return Action(
        id=f"{KIND}:user:{key}",
        kind=KIND,
        resource="user",
        key=key,
        live_id=live_id,
        userName=spec.attrs["userName"],
        changes={"grants": Change(before=grant_docs(have), after=grant_docs(want))},
    )


def grant_delta(action: Action) -> tuple[list[GrantRef], list[GrantRef]]:
    """(to remove, to add) of a grants action, from what it carries."""
    change = action.changes.get("grants")
    if change is None:
        return [], []
    before = {GrantRef.from_doc(d) for d in change.before or []}
    after = {GrantRef.from_doc(d) for d in change.after or []}
    by_grant = {r.grant: r for r in after}
    removed = sorted((r for r in before if r.grant not in by_grant), key=lambda r: r.grant)
    held = {r.grant for r in before}
    added = sorted((r for r in after if r.grant not in held), key=lambda r: r.grant)
    return removed, added


def grant_effects(action: Action, privileged: frozenset[str]) -> list[Effect]:
    if action.kind != KIND:
        return []
    removed, added = grant_delta(action)
    return [
        Effect(kind="grant_removed", subject=str(r.grant), privileged=r.role in privileged)
        for r in removed
    ] + [
        Effect(kind="grant_added", subject=str(r.grant), privileged=r.role in privileged)
        for r in added
    ]


def grant_lines(action: Action) -> list[str]:
    """The renderer's lines: one per grant removed, then one per grant added."""
    removed, added = grant_delta(action)
    return [f"- {r.grant}" for r in removed] + [f"+ {r.grant}" for r in added]


def grant_guard(
    plan: Plan, action: Action, where: str, desired: Desired, snapshot: Snapshot, state: StateView
) -> list[str]:
    """What apply refuses in a grants action, whatever the file says: a user the
    manifest does not scope, an account scimctl neither manages nor takes on in this
    plan, grants other than the manifest's, or a denied role."""
    spec = desired.users.get(action.key)
    mode = desired.ownership.mode(action.key, "roles") if desired.ownership else "authoritative"
    # A rekey in this plan moves the old key's record (see compute_plan).
    olds = [
        a.changes["externalId"].before
        for a in plan.actions
        if a.kind == "rekey" and a.key == action.key and "externalId" in a.changes
    ]
    record = state.applied.get(action.key) or next(
        (state.applied[o] for o in olds if isinstance(o, str) and o in state.applied), None
    )
    if spec is None or not (spec.scopes or dropped_roles(spec, mode, record)):
        return [f"{where}: the manifest scopes no role for {action.key}"]
    out = []
    managed = state.users.get(action.key)
    taken = {a.key for a in plan.actions if a.kind in ("create", "restore", "adopt", "rekey")}
    if action.key not in taken and (managed is None or action.live_id != managed.id):
        out.append(f"{where}: the account is not one scimctl manages as {action.key}")
    change = action.changes.get("grants")
    wanted = sorted(str(g) for g in desired_grants(spec.scopes))
    after = set(grant_names(change.after)) if change is not None else set()
    before = set(grant_names(change.before)) if change is not None else set()
    # Beyond the manifest's, only grants held already (kept by additive ownership).
    if change is None or not set(wanted) <= after or not after - set(wanted) <= before:
        out.append(f"{where}: the grants differ from the manifest's ({', '.join(wanted)})")
    try:
        _, added = grant_delta(action)
    except ValueError as exc:
        return [*out, f"{where}: {exc}"]
    roles = {r.name: r for r in snapshot.roles}
    for ref in added:
        role = roles.get(ref.role)
        if role is None or role.id != ref.role_id:
            out.append(f"{where}: role {ref.role!r} is not the directory's")
            continue
        for perm, pattern in denied(role.permissions, desired.policy.deny_permissions):
            out.append(
                f"{where}: role {ref.role!r} grants {perm!r}, denied by policy pattern {pattern!r}"
            )
    return out
