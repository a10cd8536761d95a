"""Checks across records that need no network: duplicates, references, hierarchy."""

from __future__ import annotations

from scimctl.manifest.models import GroupModel, UserModel
from scimctl.model import Location, Policy
from scimctl.problems import Problem


def check_records(
    users: list[tuple[UserModel, Location]],
    groups: list[tuple[GroupModel, Location]],
    policy: Policy,
) -> list[Problem]:
    problems: list[Problem] = []
    seen_ids: dict[str, Location] = {}
    seen_names: dict[str, Location] = {}
    for user, loc in users:
        first = seen_ids.setdefault(user.externalId, loc)
        if first is not loc:
            problems.append(
                Problem(str(loc), "externalId", f"{user.externalId!r} is also used at {first}")
            )
        first = seen_names.setdefault(user.userName.lower(), loc)
        if first is not loc:
            problems.append(
                Problem(str(loc), "userName", f"{user.userName!r} is also used at {first}")
            )
    parents: dict[str, str | None] = {}
    where: dict[str, Location] = {}
    for group, loc in groups:
        if group.name in parents:
            problems.append(Problem(str(loc), "name", f"group {group.name!r} is declared twice"))
            continue
        parents[group.name] = group.parent
        where[group.name] = loc
    for name, parent in parents.items():
        if parent is not None and parent not in parents:
            problems.append(Problem(str(where[name]), "parent", f"unknown group {parent!r}"))
    problems.extend(_hierarchy(parents, where, policy.max_group_depth))
    for user, loc in users:
        for g in user.groups:
            if g not in parents:
                problems.append(
                    Problem(str(loc), "groups", f"unknown group {g!r}; declare it under groups:")
                )
    return problems


def _hierarchy(
    parents: dict[str, str | None], where: dict[str, Location], max_depth: int
) -> list[Problem]:
    problems = []
    reported_cycles: set[frozenset[str]] = set()
    for name in parents:
        chain = [name]
        node = parents[name]
        while node is not None and node in parents:
            if node in chain:
                cycle = frozenset(chain[chain.index(node) :])
                if cycle not in reported_cycles:
                    reported_cycles.add(cycle)
                    path = " -> ".join([*chain[chain.index(node) :], node])
                    problems.append(Problem(str(where[name]), "parent", f"cycle: {path}"))
                break
            chain.append(node)
            node = parents[node]
        else:
            if len(chain) > max_depth:
                problems.append(
                    Problem(
                        str(where[name]),
                        "parent",
                        f"group {name!r} is {len(chain)} levels deep "
                        f"({' < '.join(chain)}); policy.max_group_depth is {max_depth}",
                    )
                )
    return problems
