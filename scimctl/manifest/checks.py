"""Checks across records that need no network: duplicates, references, hierarchy.

They run even when single records have errors (rows that failed validation are
passed in as partial users), so one run reports every problem. A problem that
repeats (an unknown group on 300 users, a 2,000-level chain) is reported once.
"""

from __future__ import annotations

from scimctl.errors import Problem
from scimctl.manifest.models import GroupModel, UserModel
from scimctl.model import Location, Policy
from scimctl.text import count

EXAMPLES = 5


def check_records(
    users: list[tuple[UserModel, Location]],
    groups: list[tuple[GroupModel, Location]],
    policy: Policy,
    current: set[int] | None = None,
) -> list[Problem]:
    """Every problem across records; ``current`` holds the ids of users desired today."""
    problems: list[Problem] = []
    problems.extend(_managers(users, current))
    seen_ids: dict[str, Location] = {}
    seen_names: dict[str, Location] = {}
    for user, loc in users:
        key = getattr(user, "externalId", None)
        name = getattr(user, "userName", None)
        if isinstance(key, str):
            first = seen_ids.setdefault(key, loc)
            if first is not loc:
                problems.append(Problem(str(loc), "externalId", f"{key!r} is also used at {first}"))
        if isinstance(name, str):
            first = seen_names.setdefault(name.lower(), loc)
            if first is not loc:
                problems.append(Problem(str(loc), "userName", f"{name!r} is also used at {first}"))
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
    unknown: dict[str, list[Location]] = {}
    for user, loc in users:
        for g in getattr(user, "groups", None) or []:
            if g not in parents:
                unknown.setdefault(g, []).append(loc)
    for g, locs in unknown.items():
        more = f" (used by {_also_at(locs)})" if len(locs) > 1 else ""
        problems.append(
            Problem(str(locs[0]), "groups", f"unknown group {g!r}; declare it under groups:{more}")
        )
    return problems


def _managers(users: list[tuple[UserModel, Location]], current: set[int] | None) -> list[Problem]:
    """Managers must be users desired today, never the user, never in a cycle.

    Apply creates a manager before the people reporting to them, so a cycle could
    never be applied; it is refused here, with the line of the first user on it.
    """
    problems: list[Problem] = []
    by_key: dict[str, tuple[UserModel, Location]] = {}
    for user, loc in users:
        key = getattr(user, "externalId", None)
        if isinstance(key, str):
            by_key.setdefault(key, (user, loc))
    today = {
        getattr(u, "externalId", None) for u, _ in users if current is None or id(u) in current
    }
    retired: dict[str, Location] = {}
    for user, loc in users:
        for old in getattr(user, "previousExternalIds", None) or []:
            if old in by_key:
                problems.append(
                    Problem(
                        str(loc),
                        "previousExternalIds",
                        f"{old!r} is the externalId of the user at {by_key[old][1]}",
                    )
                )
            elif old in retired:
                problems.append(
                    Problem(
                        str(loc), "previousExternalIds", f"{old!r} is also listed at {retired[old]}"
                    )
                )
            retired.setdefault(old, loc)
    boss: dict[str, str] = {}
    for user, loc in users:
        manager = getattr(user, "manager", None)
        key = getattr(user, "externalId", None)
        if manager is None or not isinstance(key, str):
            continue
        if current is not None and id(user) not in current:
            continue
        if manager == key:
            problems.append(Problem(str(loc), "manager", "a user cannot be their own manager"))
        elif manager not in by_key and "@" in manager:
            continue  # a live userName: checked against the directory by plan
        elif manager not in by_key:
            problems.append(
                Problem(
                    str(loc),
                    "manager",
                    f"unknown manager {manager!r}: not the externalId of a user in the "
                    "manifest (or the userName of a live user)",
                )
            )
        elif manager not in today:
            start = getattr(by_key[manager][0], "provision_from", None)
            problems.append(
                Problem(
                    str(loc),
                    "manager",
                    f"manager {manager!r} is not provisioned until {start}",
                )
            )
        else:
            boss[key] = manager
    seen: set[str] = set()
    for start in boss:
        path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in seen and node not in path:
            path[node] = len(path)
            node = boss.get(node)
        if node is not None and node in path:
            cycle = list(path)[path[node] :]
            text = " -> ".join([*cycle, node]) if len(cycle) <= 2 * EXAMPLES else _chain_text(cycle)
            problems.append(Problem(str(by_key[node][1]), "manager", f"manager cycle: {text}"))
        seen.update(path)
    return problems


def _chain_text(chain: list[str]) -> str:
    if len(chain) <= 2 * EXAMPLES:
        return " < ".join(chain)
    hidden = len(chain) - 2 * EXAMPLES
    return " < ".join([*chain[:EXAMPLES], f"... {hidden} more ...", *chain[-EXAMPLES:]])


def _hierarchy(
    parents: dict[str, str | None], where: dict[str, Location], max_depth: int
) -> list[Problem]:
    """Cycles once each; over-deep chains once, from their deepest group.

    Depths are memoised, so a 2,000-level chain costs linear time, and only groups
    that are nobody's parent report, so it gives one line, not 2,000.
    """
    problems = []
    depth: dict[str, int] = {}  # chain length from a group to its root; 0 = on a cycle
    for name in parents:
        path: list[str] = []
        node: str | None = name
        on_path: dict[str, int] = {}
        while node is not None and node in parents and node not in depth:
            if node in on_path:
                cycle = path[on_path[node] :]
                text = (
                    " -> ".join([*cycle, node])
                    if len(cycle) <= 2 * EXAMPLES
                    else (f"{count(len(cycle), 'group')}: " + _chain_text(cycle))
                )
                problems.append(Problem(str(where[node]), "parent", f"cycle: {text}"))
                for n in path:
                    depth[n] = 0
                break
            on_path[node] = len(path)
            path.append(node)
            node = parents[node]
        else:
            below = depth.get(node, 0) if node is not None and node in parents else 0
            if node is not None and node in depth and depth[node] == 0:
                for n in path:
                    depth[n] = 0  # hangs off a cycle; the cycle is the error
                continue
            for i, n in enumerate(reversed(path)):
                depth[n] = below + i + 1
    children = {p for p in parents.values() if p is not None}
    for name in parents:
        if name in children or depth.get(name, 0) <= max_depth:
            continue
        chain = [name]
        node = parents[name]
        while node is not None and node in parents and len(chain) <= depth[name]:
            chain.append(node)
            node = parents[node]
        problems.append(
            Problem(
                str(where[name]),
                "parent",
                f"group {name!r} is {count(depth[name], 'level')} deep ({_chain_text(chain)}); "
                f"policy.max_group_depth is {max_depth}",
            )
        )
    return problems


def genesys_phone_slots(users: list[tuple[UserModel, Location]]) -> list[Problem]:
    """Two numbers of one phone type, refused for Genesys Cloud, which keeps one number
    per type (each type is one slot of the profile; docs/genesys.md): all but one
    would be lost, and every plan would propose them again. Reported once per type,
    with examples, as a mapping that does it for every row would."""
    found: dict[str, list[Location]] = {}
    for user, loc in users:
        phones = getattr(user, "phoneNumbers", None)  # invalid records are stand-ins
        types = [getattr(p, "type", None) for p in phones if p] if isinstance(phones, list) else []
        for kind in sorted({t for t in types if t and types.count(t) > 1}):
            found.setdefault(kind, []).append(loc)
    problems = []
    for kind, locs in sorted(found.items()):
        more = f" ({_also_at(locs)})" if len(locs) > 1 else ""
        problems.append(
            Problem(
                str(locs[0]),
                "phoneNumbers",
                f"more than one number of type {kind!r}{more}: Genesys Cloud keeps one "
                "number per phone type, so the others would be lost and proposed again by "
                "every plan; keep one, or give each its own type (work2, work3, work4, "
                "mobile, home, ...)",
            )
        )
    return problems


def _also_at(locs: list[Location]) -> str:
    """How many users one problem is found on, and where else, with a few examples:
    a problem a mapping makes on every row is said once, not once a row."""
    shown = ", ".join(str(x) for x in locs[1:EXAMPLES])
    etc = ", ..." if len(locs) > EXAMPLES else ""
    return f"{count(len(locs), 'user')}; also at {shown}{etc}"
