"""Validation of the desired state against the live directory (all problems at once)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase

from scimctl.errors import Problem
from scimctl.model import Desired, LiveRole, Snapshot, StateView, UserSpec
from scimctl.text import count

# Permissions that let their holder change who exists, who may do what, or act for the
# organisation from outside. A role granting any of them (or anything the policy's
# deny_permissions names) is privileged: granting it always needs review.
PRIVILEGED_PERMISSIONS: tuple[str, ...] = (
    "admin",
    "admin:*",
    "authorization:*",
    "oauth:*",
    "directory:*:add",
    "directory:*:edit",
    "directory:*:delete",
    "integrations:*",
)


def grants(permission: str, pattern: str) -> bool:
    """Whether ``permission`` (which may itself hold wildcards, as ``directory:*:*``
    does) grants something ``pattern`` names: a wildcard permission covers it too."""
    return fnmatchcase(permission, pattern) or fnmatchcase(pattern, permission)


def denied(permissions: Sequence[str], deny: Sequence[str]) -> Iterator[tuple[str, str]]:
    """Each permission a denied pattern names, with the first pattern that names it: the
    one rule that plan, the grants check and apply's guard all refuse roles by."""
    for perm in permissions:
        pattern = next((p for p in deny if fnmatchcase(perm, p)), None)
        if pattern:
            yield perm, pattern


def privileged_roles(roles: tuple[LiveRole, ...], deny: tuple[str, ...]) -> frozenset[str]:
    patterns = (*PRIVILEGED_PERMISSIONS, *deny)
    return frozenset(
        r.name for r in roles if any(grants(p, pat) for p in r.permissions for pat in patterns)
    )


def _where(spec: UserSpec | None) -> str:
    return str(spec.location) if spec and spec.location else "manifest"


def names_of(specs: list[UserSpec], limit: int = 5) -> str:
    names = [s.attrs["userName"] for s in specs[:limit]]
    more = f" and {len(specs) - limit} more" if len(specs) > limit else ""
    return ", ".join(names) + more


def check_directory(desired: Desired, snapshot: Snapshot, state: StateView) -> list[Problem]:
    problems: list[Problem] = []
    roles = {r.name: r for r in snapshot.roles}
    users_by_role: dict[str, list[UserSpec]] = {}
    for key in sorted(desired.users):
        spec = desired.users[key]
        for role in spec.attrs.get("roles", []):
            users_by_role.setdefault(role, []).append(spec)
    for role_name, specs in sorted(users_by_role.items() if snapshot.roles_known else []):
        role = roles.get(role_name)
        if role is None:
            problems.append(
                Problem(
                    _where(specs[0]),
                    "roles",
                    f"role {role_name!r} does not exist in the directory "
                    f"(assigned to {count(len(specs), 'user')}: {names_of(specs)})",
                )
            )
            continue
        for perm, pattern in denied(role.permissions, desired.policy.deny_permissions):
            problems.append(
                Problem(
                    _where(specs[0]),
                    "roles",
                    f"role {role_name!r} grants {perm!r}, denied by policy pattern "
                    f"{pattern!r}; it would reach {count(len(specs), 'user')}: {names_of(specs)}",
                )
            )
    problems += _check_divisions(desired, snapshot)
    live_groups = {g.name for g in snapshot.groups}
    for name in sorted(desired.groups):
        if name not in live_groups:
            group = desired.groups[name]
            where = str(group.location) if group.location else "manifest"
            if group.create and snapshot.groups_creatable:
                continue  # the plan creates it
            if group.create:
                problems.append(
                    Problem(
                        where,
                        "groups.create",
                        f"group {name!r} does not exist and the service cannot create "
                        "groups (its /ResourceTypes lists no Group), so create it there first",
                    )
                )
                continue
            problems.append(
                Problem(
                    where,
                    "groups",
                    f"group {name!r} does not exist in the directory; scimctl creates a "
                    "group only when the manifest says create: true and the service can "
                    "(Genesys Cloud cannot through SCIM), so create it there first",
                )
            )
    problems.extend(_routing(desired, snapshot))
    live_names = {u.user_name.lower() for u in snapshot.users}
    for key in sorted(desired.users):
        spec = desired.users[key]
        manager = spec.attrs.get("manager")
        if manager and "@" in manager and manager not in live_names:
            problems.append(
                Problem(
                    _where(spec),
                    "manager",
                    f"manager {manager!r} is neither a user in the manifest nor in the directory",
                )
            )
    owner = {m.id: key for key, m in state.users.items()}
    index = snapshot.index
    by_id, by_name, by_ext = index.by_id, index.by_name, index.by_ext
    for key in sorted(desired.users):
        spec = desired.users[key]
        holder = by_name.get(spec.attrs["userName"].lower())
        if holder is None:
            continue
        mine = state.users.get(key)
        own = by_id.get(mine.id) if mine else None
        own = own or by_ext.get(key)
        if own is not None and own.id == holder.id:
            continue
        holder_key = owner.get(holder.id)
        name = spec.attrs["userName"]
        if holder_key in spec.previous_keys or (
            holder_key is None and holder.external_id in spec.previous_keys
        ):
            continue  # a rehire: the plan re-keys that account
        if holder_key is not None:
            message = (
                f"{name!r} belongs to the account scimctl manages for externalId {holder_key!r}"
            )
        elif own is not None:
            message = f"{name!r} is already used by another account, live user {holder.id}"
        elif holder.external_id not in (None, key):
            message = (
                f"{name!r} belongs to live user {holder.id} with externalId "
                f"{holder.external_id!r}, which scimctl does not manage; refusing to take it over"
            )
        else:
            continue
        problems.append(Problem(_where(spec), "userName", message))
    return problems


def _routing(desired: Desired, snapshot: Snapshot) -> list[Problem]:
    """Skills and languages must exist (names are case-sensitive), one line per name."""
    problems: list[Problem] = []
    for attr, known, what in (
        ("routingSkills", snapshot.skills, "skill"),
        ("routingLanguages", snapshot.languages, "language"),
    ):
        if known is None:
            continue
        users_by_name: dict[str, list[UserSpec]] = {}
        for key in sorted(desired.users):
            spec = desired.users[key]
            for name, _level in spec.attrs.get(attr) or []:
                users_by_name.setdefault(name, []).append(spec)
        for name, specs in sorted(users_by_name.items()):
            if name in known:
                continue
            near = [k for k in known if k.lower() == name.lower()]
            hint = f"; names are case-sensitive: did you mean {near[0]!r}?" if near else ""
            problems.append(
                Problem(
                    _where(specs[0]),
                    attr,
                    f"routing {what} {name!r} does not exist in the directory "
                    f"(used by {count(len(specs), 'user')}: {names_of(specs)}){hint}",
                )
            )
    return problems


def _check_divisions(desired: Desired, snapshot: Snapshot) -> list[Problem]:
    """Genesys names a user's division; an unknown name, or a division the client has
    no grant in, is refused on write, so it is an input error before apply."""
    if snapshot.divisions is None:
        return []
    known = {d.name: d for d in snapshot.divisions}
    users_by_division: dict[str, list[UserSpec]] = {}
    for key in sorted(desired.users):
        spec = desired.users[key]
        name = spec.attrs.get("division")
        if name is not None:
            users_by_division.setdefault(name, []).append(spec)
    problems = []
    for name, specs in sorted(users_by_division.items()):
        division = known.get(name)
        if division is None:
            near = [d for d in known if d.lower() == name.lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(
                Problem(
                    _where(specs[0]),
                    "division",
                    f"division {name!r} does not exist in the directory{hint} "
                    f"(set for {count(len(specs), 'user')}: {names_of(specs)})",
                )
            )
        elif not division.writable:
            problems.append(
                Problem(
                    _where(specs[0]),
                    "division",
                    f"division {name!r} is one the OAuth client has no grant to edit users "
                    f"in (set for {count(len(specs), 'user')}: {names_of(specs)}); grant the "
                    "client a role in it, or choose another division",
                )
            )
    return problems
