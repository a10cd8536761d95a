"""The dependency graph of a plan: which operations must succeed before which.

Each plan action becomes one node (a group's additions and removals share one
node; they go out in separate PATCHes so that one cannot sink the other). A group
waits for the creates of its new members, a deactivation for the removal of the
user's memberships, a user for the create of its manager, a grants write for the
user's own write. Taking access away is singled out here because no ordering,
quarantine or earlier failure may skip it (scimctl/apply/schedule.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scimctl.plan.model import Action, Plan


@dataclass
class Node:
    name: str
    actions: list[Action]
    deps: set[str] = field(default_factory=set)
    dependents: set[str] = field(default_factory=set)


def build_graph(plan: Plan) -> dict[str, Node]:
    """The plan's nodes by name, each with what must succeed before it may run.

    A group waits for the creates of its new members (their live ids go in the PATCH),
    a deactivation or deletion for the removal of the user's memberships, and a user
    whose manager is created in this run for that create (the manager is sent by id).
    """
    nodes: dict[str, Node] = {}
    for action in plan.actions:
        name = action.id
        if action.resource == "group" and action.kind != "create_group":
            name = f"group:{action.key}"
        nodes.setdefault(name, Node(name, [])).actions.append(action)
    for action in plan.actions:
        # A new group's members are added once it exists.
        if action.kind == "create_group" and f"group:{action.key}" in nodes:
            nodes[f"group:{action.key}"].deps.add(action.id)
    creates = {a.key: a.id for a in plan.actions if a.kind in ("create", "restore")}
    removed_in: dict[str, set[str]] = {}
    for action in plan.actions:
        if action.kind == "add_members":
            for m in action.members:
                if m.id is None and m.key in creates:
                    nodes[f"group:{action.key}"].deps.add(creates[m.key])
        elif action.kind == "remove_members":
            for m in action.members:
                if m.key:
                    removed_in.setdefault(m.key, set()).add(f"group:{action.key}")
    for action in plan.actions:
        if action.kind in ("deactivate", "delete"):
            nodes[action.id].deps |= removed_in.get(action.key, set())
        manager = action.changes.get("manager")
        if manager is not None and manager.after in creates:
            # The enterprise manager is sent as a live id: the manager must exist first.
            nodes[action.id].deps.add(creates[manager.after])
    user_nodes: dict[str, list[str]] = {}
    for action in plan.actions:
        if action.resource == "user" and action.kind != "grants":
            user_nodes.setdefault(action.key, []).append(action.id)
    for action in plan.actions:
        if action.kind == "grants":
            # After the user's own write: it exists, and its SCIM roles write cannot
            # undo a grant made before it.
            nodes[action.id].deps |= set(user_nodes.get(action.key, ()))
    for node in nodes.values():
        for dep in node.deps:
            nodes[dep].dependents.add(node.name)
    return nodes


def removes_access(action: Action) -> bool:
    """Whether ``action`` deactivates or deletes an account, as its kind or an effect."""
    if action.resource != "user":
        return False
    if action.kind in ("deactivate", "delete"):
        return True
    return any(e.kind in ("deactivation", "deletion") for e in action.effects)


def takes_access_away(node: Node) -> bool:
    """Whether the node deactivates or deletes an account: the one kind of operation
    that no ordering, quarantine or earlier failure may skip."""
    return any(removes_access(a) for a in node.actions)
