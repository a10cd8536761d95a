"""The plan engine: a pure function of (desired, snapshot, state) to a :class:`Plan`.

No I/O happens here. Identity, ownership and deprovisioning:

* a desired user matches a live one by the id in state, else by externalId, else by
  userName (case-insensitive); a match that is not in state is *adopted*;
* scimctl owns the membership of a user it manages in a group the manifest
  declares; other members are left alone unless the group is ``authoritative``;
* a managed user gone from the manifest is deprovisioned by policy, after its
  memberships are removed, and never beyond ``max_deprovision``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from scimctl import __version__
from scimctl.errors import InputError, PlanRefused
from scimctl.model import (
    DEFAULT_REDACT,
    Desired,
    GroupSpec,
    LiveGroup,
    LiveUser,
    Snapshot,
    StateView,
    same,
)
from scimctl.model.ownership import Kept, owned_attrs
from scimctl.plan.checks import check_directory, privileged_roles
from scimctl.plan.grants import (
    grant_action,
    grant_effects,
    grant_problems,
    keep_granted_roles,
    roles_attr,
)
from scimctl.plan.limits import not_supported, storable, without_unsupported
from scimctl.plan.model import (
    EFFECT_ORDER,
    KIND_ORDER,
    Action,
    ActionKind,
    Change,
    Effect,
    GroupMembers,
    LeftAlone,
    Member,
    Plan,
    Review,
    Summary,
)
from scimctl.plan.restore import describe_restores
from scimctl.plan.targets import memberships as targeted_memberships
from scimctl.plan.targets import parse_targets, select
from scimctl.text import count as counted


def ancestry(groups: dict[str, GroupSpec], name: str) -> list[str]:
    """``name`` and its ancestors, nearest first (hierarchy already checked acyclic)."""
    chain = [name]
    parent = groups[name].parent if name in groups else None
    while parent is not None and parent in groups and parent not in chain:
        chain.append(parent)
        parent = groups[parent].parent
    return chain


def _manager_as_key(
    live: LiveUser | None, key_of: dict[str, str], names: dict[str, str], by_email: bool
) -> LiveUser | None:
    """Genesys holds the manager's live id; the manifest names the manager's key.

    ``by_email``: the manifest names an unmanaged live manager by userName instead.
    """
    manager = live.attrs.get("manager") if live else None
    if live is None or manager is None:
        return live
    attrs = {**live.attrs, "manager": key_of.get(manager, manager)}
    if by_email and manager in names:
        attrs["manager"] = names[manager]
    return LiveUser(id=live.id, external_id=live.external_id, attrs=attrs, version=live.version)


class _Matcher:
    """Finds the live account for each desired user, each live account at most once."""

    def __init__(self, snapshot: Snapshot, state: StateView) -> None:
        index = snapshot.index
        self.by_id, self.by_ext, self.by_name = index.by_id, index.by_ext, index.by_name
        self.owner = {m.id: key for key, m in state.users.items()}
        self.state = state
        self.rekeys: dict[str, str] = {}  # old key -> live id taken over by a new key

    def match(self, key: str, user_name: str, previous: tuple[str, ...] = ()) -> LiveUser | None:
        managed = self.state.users.get(key)
        if managed and managed.id in self.by_id:
            return self.by_id[managed.id]
        for cand in (self.by_ext.get(key), self.by_name.get(user_name.lower())):
            if cand is None or self.owner.get(cand.id, key) != key:
                continue
            if cand.external_id in (None, key):
                return cand
        return self.rekeyed(previous)

    def rekeyed(self, previous: tuple[str, ...]) -> LiveUser | None:
        """The account a rehire had under an earlier externalId, if no one else owns it."""
        for old in previous:
            managed = self.state.users.get(old)
            cand = self.by_id.get(managed.id) if managed else self.by_ext.get(old)
            if cand is None or self.owner.get(cand.id, old) != old:
                continue
            if cand.external_id in (None, old) or managed is not None:
                self.rekeys[old] = cand.id
                return cand
        return None


def compute_plan(
    desired: Desired,
    snapshot: Snapshot,
    state: StateView,
    *,
    workspace: str,
    target: dict[str, str],
    manifest_digest: str,
    max_deprovision: int | None = None,
    redact: tuple[str, ...] | list[str] = DEFAULT_REDACT,
    targets: tuple[str, ...] | list[str] = (),
) -> Plan:
    """Validate against the directory, then diff; raise on problems or a refused plan.

    With ``targets`` the plan is partial: only those resources and what they need
    (see :mod:`scimctl.plan.targets`), and the plan document lists the targets.
    """
    desired = without_unsupported(desired)
    target_users, target_groups = parse_targets(targets, desired, state)
    problems = check_directory(desired, snapshot, state) + grant_problems(desired, snapshot)
    if problems:
        raise InputError(problems)
    groups = {g.name: g for g in snapshot.groups}
    matcher = _Matcher(snapshot, state)
    actions: list[Action] = []
    left_alone: list[Kept] = []
    learned: dict[str, list[str]] = {}  # attribute -> users whose value was not stored
    matched: dict[str, LiveUser | None] = {}
    key_of = {u.id: u.external_id for u in snapshot.users if u.external_id}
    key_of.update({m.id: k for k, m in state.users.items()})
    names = {u.id: u.user_name.lower() for u in snapshot.users}
    for key in sorted(desired.users):
        spec = desired.users[key]
        live = matcher.match(key, spec.attrs["userName"], spec.previous_keys)
        matched[key] = live
        if "manager" in spec.attrs:
            by_email = "@" in spec.attrs["manager"]
            live = _manager_as_key(live, key_of, names, by_email)
        old_key = next((o for o, i in matcher.rekeys.items() if live and i == live.id), None)
        # A rekey moves the record (apply does too): the grants scimctl made stay its own.
        applied = state.applied.get(key) or (state.applied.get(old_key) if old_key else None)
        attrs = roles_attr(spec.attrs, spec, live)
        attrs = keep_default_role(attrs, live, desired.policy.default_role)
        attrs, kept = owned_attrs(
            key, attrs, live.attrs if live else None, applied, desired.ownership
        )
        left_alone += kept
        attrs = keep_granted_roles(attrs, spec, live, _grant_mode(desired, key), applied)
        if live is not None:
            attrs, left_out = storable(attrs, live, applied)
            if not targets or key in target_users:
                for name in left_out:
                    learned.setdefault(name, []).append(key)
        action = _user_action(key, attrs, live, in_state=key in state.users, old_key=old_key)
        if action is not None and action.kind == "create":
            action = _restore(action, snapshot) or action
        if action is not None and action.kind == "deactivate" and not action.reason:
            # Every deactivation says why; this one is the manifest's own active: false.
            loc = spec.location
            why = (
                f"active: false in the manifest ({loc})" if loc else "active: false in the manifest"
            )
            if loc is not None and loc.row is not None:
                why = f"active: false from {loc}"  # an HR feed's row (its leaver rule)
            action = action.model_copy(update={"reason": why})
        if action:
            actions.append(action)
        granting = grant_action(
            key, spec, live, action, snapshot, _grant_mode(desired, key), applied, left_alone,
        )  # fmt: skip
        if granting is not None:
            actions.append(granting)
    ignored: set[str] = set()
    released = excluded_keys(desired, snapshot, state)
    for key in sorted(released):
        managed = state.users[key]
        actions.append(
            Action(
                id=f"release:user:{key}",
                kind="release",
                resource="user",
                key=key,
                live_id=managed.id,
                userName=managed.user_name,
                reason="listed in exclude: scimctl stops managing it and changes nothing",
            )
        )
    ignored |= released
    for key in sorted(set(state.users) - set(desired.users) - set(matcher.rekeys) - released):
        managed = state.users[key]
        live = matcher.by_id.get(managed.id)
        action = _deprovision(key, managed.user_name, live, desired.policy.deprovision)
        if desired.policy.deprovision == "ignore" and live is not None:
            ignored.add(key)
        if action:
            actions.append(action)
    member_actions, unmanaged_members, wanted = _memberships(
        desired, snapshot, groups, state, matched, ignored, left_alone
    )
    actions.extend(member_actions)
    plan_memberships = {
        name: GroupMembers(id=groups[name].id if name in groups else None, members=sorted(keys))
        for name, keys in sorted(wanted.items())
    }
    if targets:
        actions, _ = select(actions, target_users, target_groups)
        plan_memberships = targeted_memberships(
            plan_memberships, state, target_users, target_groups
        )
    actions.sort(key=lambda a: (KIND_ORDER.index(a.kind), a.key))
    actions = describe_restores(actions)
    privileged = privileged_roles(snapshot.roles, desired.policy.deny_permissions)
    actions = [
        a.model_copy(
            update={
                "effects": effects_of(a, privileged)
                + grant_effects(a, privileged)
                + _reverts(a, state)
            }
        )
        for a in actions
    ]
    _guard(actions, desired.policy.max_deprovision, len(state.users), max_deprovision)
    managed_ids = {m.id for k, m in state.users.items() if k not in released} | {
        u.id for u in matched.values() if u is not None
    }
    counts = {k: 0 for k in KIND_ORDER}
    effects = {k: 0 for k in EFFECT_ORDER}
    through_adoption = {k: 0 for k in EFFECT_ORDER}
    for a in actions:
        counts[a.kind] += 1
        for e in a.effects:
            effects[e.summary_key] += 1
            if a.kind == "adopt" and e.kind != "adoption":
                through_adoption[e.summary_key] += 1
    return Plan(
        scimctl_version=__version__,
        workspace=workspace,
        target=target,
        manifest_digest=manifest_digest,
        state={"lineage": state.lineage, "serial": state.serial},
        policy=asdict(desired.policy),
        actions=actions,
        summary=Summary(
            counts=counts,
            changes=len(actions),
            unmanaged_users=sum(1 for u in snapshot.users if u.id not in managed_ids),
            unmanaged_members=unmanaged_members,
            managed_users=len(desired.users),
            effects=effects,
            through_adoption=through_adoption,
        ),
        memberships=plan_memberships,
        review=Review(redact=list(redact)),
        targets=sorted(set(targets)),
        left_alone=[
            LeftAlone(
                key=k.key,
                userName=k.user_name,
                attribute=k.attribute,
                ownership=k.mode,
                values=k.values,
            )
            for k in sorted(left_alone, key=lambda k: (k.key, k.attribute))
            if not targets or k.key in target_users
        ],  # fmt: skip
        not_supported=not_supported(desired, learned),
    )


def effects_of(action: Action, privileged: frozenset[str]) -> list[Effect]:
    """Classify by what happens to access, whatever the kind: an adoption can also
    deactivate, grant a role or rename, and a reviewer must see that."""
    out: list[Effect] = []
    if action.kind == "adopt":
        out.append(Effect(kind="adoption"))
    if action.kind == "restore":
        out.append(Effect(kind="restore"))
    if action.kind == "release":
        out.append(Effect(kind="release"))
    if action.kind == "create_group":
        out.append(Effect(kind="group_creation"))
    if action.kind == "delete":
        out.append(Effect(kind="deletion"))
    active = action.changes.get("active") if action.kind not in ("create", "restore") else None
    if action.kind == "deactivate" or (active is not None and active.after is False):
        out.append(Effect(kind="deactivation"))
    elif active is not None and active.after is True and active.before is False:
        out.append(Effect(kind="reactivation"))
    if action.kind == "rekey":
        key = action.changes.get("externalId")
        out.append(Effect(kind="rekey", subject=str(key.before) if key else None))
    name = action.changes.get("userName")
    if name is not None and action.kind not in ("create", "restore"):
        out.append(Effect(kind="username_change"))
    roles = action.changes.get("roles")
    if roles is not None:
        before, after = set(roles.before or []), set(roles.after or [])
        out += [
            Effect(kind="role_granted", subject=r, privileged=r in privileged)
            for r in sorted(after - before)
        ]
        out += [
            Effect(kind="role_removed", subject=r, privileged=r in privileged)
            for r in sorted(before - after)
        ]
    if action.kind == "remove_members":
        out += [
            Effect(kind="group_removal", subject=m.userName or m.key or m.id)
            for m in action.members
        ]
    return out


def keep_default_role(
    attrs: dict[str, Any], live: LiveUser | None, role: str | None
) -> dict[str, Any]:
    """The roles a user should end with, given the role the service grants itself.

    Genesys gives a user created without roles the default role (Employee). The rule:
    a manifest role list that leaves the default role out neither asks for it nor
    takes it away; a user that holds it keeps it, so a plan never proposes removing
    it and Genesys then adding it back. A manifest that lists it manages it like any
    other role; a user whose manifest gives no roles has its roles left alone.
    """
    roles = attrs.get("roles")
    if not role or roles is None or role in roles or live is None:
        return attrs
    if role not in (live.attrs.get("roles") or []):
        return attrs
    return {**attrs, "roles": sorted([*roles, role])}


def _reverts(action: Action, state: StateView) -> list[Effect]:
    """Changes that overwrite a live value someone set in Genesys since scimctl last
    applied this user (the drift report's finding), one effect per attribute."""
    if action.kind == "add_members":
        # A membership scimctl recorded and someone removed by hand: adding it back
        # reverts that change, as `drift` reports it.
        return [
            Effect(kind="reverts_drift", subject=f"member {m.userName or m.key}")
            for m in action.members
            if m.key is not None and (action.key, m.key) in state.memberships
        ]
    applied = state.applied.get(action.key) if action.resource == "user" else None
    if not applied or action.kind in ("create", "restore", "adopt"):
        return []
    return [
        Effect(kind="reverts_drift", subject=attr)
        for attr, change in sorted(action.changes.items())
        if attr in applied and not same(attr, applied[attr], change.before)
    ]


def _user_action(
    key: str,
    attrs: dict[str, Any],
    live: LiveUser | None,
    in_state: bool,
    old_key: str | None = None,
) -> Action | None:
    if live is None:
        return Action(
            id=f"create:user:{key}",
            kind="create",
            resource="user",
            key=key,
            userName=attrs["userName"],
            changes={a: Change(after=v) for a, v in attrs.items()},
        )
    changes = {
        a: Change(before=live.attrs.get(a), after=v)
        for a, v in attrs.items()
        if not same(a, live.attrs.get(a), v)
    }
    if live.external_id != key or old_key is not None:
        before = live.external_id if live.external_id is not None else old_key
        changes = {"externalId": Change(before=before, after=key), **changes}
    reason = None
    if old_key is not None:
        kind = "rekey"
        reason = f"previousExternalIds: the account of {old_key!r} is re-keyed to {key!r}"
    elif not in_state:
        kind = "adopt"
    elif "active" in changes:
        kind = "reactivate" if changes["active"].after else "deactivate"
    elif changes:
        kind = "update"
    else:
        return None
    return Action(
        id=f"{kind}:user:{key}",
        kind=kind,
        resource="user",
        key=key,
        live_id=live.id,
        version=live.version,
        userName=live.user_name,
        changes=changes,
        reason=reason,
    )


def _restore(create: Action, snapshot: Snapshot) -> Action | None:
    """A create whose userName a deleted account holds: restore that account instead.

    Genesys keeps a deleted user's email reserved, so the create would fail with 409.
    The restored account comes back without roles; apply then sets every desired
    attribute (so ``before`` is unknown) and the memberships.
    """
    held = snapshot.deleted_by_name.get((create.userName or "").lower())
    if held is None:
        return None
    changes = {"externalId": Change(after=create.key), **create.changes}
    return create.model_copy(
        update={
            "id": f"restore:user:{create.key}",
            "kind": "restore",
            "live_id": held.id,
            "version": str(held.version),
            "changes": changes,
            "reason": f"userName is held by deleted account {held.id}; restore it",
        }
    )


def excluded_keys(desired: Desired, snapshot: Snapshot, state: StateView) -> set[str]:
    """Managed users the manifest's ``exclude:`` names (by externalId or userName)."""
    if not desired.exclude:
        return set()
    names = {e.lower() for e in desired.exclude}
    out = set()
    for key, managed in state.users.items():
        live = snapshot.index.by_id.get(managed.id)
        user_names = {managed.user_name.lower()} | ({live.user_name.lower()} if live else set())
        if key in desired.exclude or names & user_names:
            out.add(key)
    return out - set(desired.users)


def _deprovision(key: str, user_name: str, live: LiveUser | None, policy: str) -> Action | None:
    common: dict[str, Any] = {"resource": "user", "key": key, "userName": user_name}
    if live is None:
        return Action(
            id=f"forget:user:{key}", kind="forget", reason="no longer in the directory", **common
        )
    common.update(live_id=live.id, version=live.version, userName=live.user_name)
    reason = f"removed from the manifest; policy.deprovision is {policy}"
    if policy == "delete":
        return Action(id=f"delete:user:{key}", kind="delete", reason=reason, **common)
    if policy == "deactivate" and live.active:
        return Action(
            id=f"deactivate:user:{key}",
            kind="deactivate",
            reason=reason,
            changes={"active": Change(before=True, after=False)},
            **common,
        )
    return None


def _memberships(
    desired: Desired,
    snapshot: Snapshot,
    groups: dict[str, LiveGroup],
    state: StateView,
    matched: dict[str, LiveUser | None],
    ignored: set[str],
    left_alone: list[Kept] | None = None,
) -> tuple[list[Action], int, dict[str, set[str]]]:
    wanted: dict[str, set[str]] = {name: set() for name in desired.groups}
    for key, spec in desired.users.items():
        for g in spec.groups:
            for name in ancestry(desired.groups, g):
                wanted[name].add(key)
    key_of: dict[str, str] = {m.id: k for k, m in state.users.items() if k not in ignored}
    key_of.update({u.id: k for k, u in matched.items() if u is not None})
    live_users = {u.id: u for u in snapshot.users}
    actions = []
    unmanaged = 0
    for name in sorted(desired.groups):
        live_group = groups.get(name)
        if live_group is None:
            # check_directory let it through: the manifest opts in and the service can.
            actions.append(_create_group(name))
            live_group = LiveGroup(id="", name=name, members=frozenset())
        add = []
        for key in sorted(wanted[name]):
            live = matched.get(key)
            if live is not None and _group_mode(desired, key) == "ignore":
                continue  # set when scimctl created the account, never after
            if live is None or live.id not in live_group.members:
                user_name = desired.users[key].attrs["userName"]
                add.append(Member(key=key, id=live.id if live else None, userName=user_name))
        remove = []
        for member_id in sorted(live_group.members):
            member_key = key_of.get(member_id)
            if member_key is not None and member_key in wanted[name]:
                continue
            mode = _group_mode(desired, member_key) if member_key in desired.users else None
            if member_key is not None and (
                mode == "ignore"
                or (mode == "additive" and (name, member_key) not in state.memberships)
            ):
                unmanaged += 1
                if left_alone is not None:
                    live = live_users.get(member_id)
                    user_name = live.user_name if live else None
                    left_alone.append(Kept(member_key, user_name, "groups", mode, [name]))
                continue
            live = live_users.get(member_id)
            member = desired.users.get(member_key) if member_key is not None else None
            if (
                member is not None
                and member.attrs.get("active") is False
                and (name, member_key) not in state.memberships
            ):
                # A leaver loses the memberships scimctl manages; one it never managed
                # (an inactive account imported or adopted as it was) is left alone.
                unmanaged += 1
                continue
            if member_key is None and (
                not desired.groups[name].authoritative or _excluded(desired, live)
            ):
                unmanaged += 1
                continue
            remove.append(
                Member(key=member_key, id=member_id, userName=live.user_name if live else None)
            )
        remove.sort(key=lambda m: (m.key or "", m.id or ""))
        changes: tuple[tuple[ActionKind, list[Member]], ...] = (
            ("add_members", add),
            ("remove_members", remove),
        )
        for kind, members in changes:
            if members:
                actions.append(
                    Action(
                        id=f"{kind}:group:{name}",
                        kind=kind,
                        resource="group",
                        key=name,
                        live_id=live_group.id or None,
                        version=live_group.version,
                        members=members,
                    )
                )
    return actions, unmanaged, wanted


def _group_mode(desired: Desired, key: str | None) -> str:
    if desired.ownership is None or key is None:
        return "authoritative"
    return desired.ownership.mode(key, "groups")


def _grant_mode(desired: Desired, key: str) -> str:
    """Grants follow the ownership of ``roles``."""
    return desired.ownership.mode(key, "roles") if desired.ownership else "authoritative"


def _create_group(name: str) -> Action:
    """A declared group the directory lacks, created empty: its members follow in an
    ``add_members`` action that apply runs once the group exists."""
    return Action(
        id=f"create_group:group:{name}",
        kind="create_group",
        resource="group",
        key=name,
        changes={"displayName": Change(after=name)},
        reason="declared with create: true and not in the directory",
    )


def _excluded(desired: Desired, live: LiveUser | None) -> bool:
    if live is None or not desired.exclude:
        return False
    names = {e.lower() for e in desired.exclude}
    return live.external_id in desired.exclude or live.user_name.lower() in names


def deprovision_limit(policy_limit: str, managed: int) -> int:
    text = policy_limit.strip()
    if text.endswith("%"):
        return math.ceil(managed * float(text[:-1]) / 100)
    return int(text)


def deprovisions(actions: Iterable[Action]) -> tuple[int, int]:
    """Users deactivated or deleted, and how many of them through an adoption.

    Counted by effect, not kind, so an adoption that deactivates counts too."""
    total = adopted = 0
    for a in actions:
        if any(e.kind in ("deactivation", "deletion") for e in a.effects):
            total += 1
            adopted += a.kind == "adopt"
    return total, adopted


def _guard(
    actions: Iterable[Action], policy_limit: str, managed: int, override: int | None
) -> None:
    count, adopted = deprovisions(actions)
    limit = override if override is not None else deprovision_limit(policy_limit, managed)
    if count > limit:
        through = f" ({adopted} through adoption)" if adopted else ""
        source = (
            "--max-deprovision"
            if override is not None
            else (f"policy.max_deprovision ({policy_limit} of {managed} managed users)")
        )
        raise PlanRefused(
            f"refusing to deactivate or delete {counted(count, 'user')}{through}: "
            f"the limit is {limit}, "
            f"from {source}. If this is intended, run plan again with "
            f"--max-deprovision {count}."
        )
