"""Targeted plans (Terraform's ``-target``): one urgent change alone.

``user:KEY`` (externalId or userName) keeps that user's own action and its
membership changes; ``group:NAME`` keeps the group's membership changes and what
they need (the creates or restores of the members it gains). Everything else the
manifest would change is left for a full plan, and the plan says it is partial.
Pure: no I/O, like the rest of the engine.
"""

from __future__ import annotations

from scimctl.errors import ConfigError
from scimctl.model import Desired, StateView
from scimctl.plan.model import Action, GroupMembers


def parse_targets(
    targets: tuple[str, ...] | list[str], desired: Desired, state: StateView
) -> tuple[set[str], set[str]]:
    """User keys and group names named by ``targets``; unknown names are an error."""
    users: set[str] = set()
    groups: set[str] = set()
    names = {s.attrs["userName"].lower(): k for k, s in desired.users.items()}
    names.update({m.user_name.lower(): k for k, m in state.users.items() if k not in names})
    for t in targets:
        kind, sep, name = t.partition(":")
        if not sep or not name or kind not in ("user", "group"):
            raise ConfigError(f"--target {t!r}: use user:KEY (externalId or userName), group:NAME")
        if kind == "group":
            if name not in desired.groups:
                raise ConfigError(f"--target {t!r}: the manifest declares no group {name!r}")
            groups.add(name)
            continue
        key = name if (name in desired.users or name in state.users) else names.get(name.lower())
        if key is None:
            raise ConfigError(f"--target {t!r}: no user {name!r} in the manifest or the state")
        users.add(key)
    return users, groups


def select(
    actions: list[Action], users: set[str], groups: set[str]
) -> tuple[list[Action], set[str]]:
    """The actions a targeted plan keeps (see the module docstring), and the user keys
    whose actions it holds (the targets and the new members of targeted groups)."""
    needed = set(users)
    for a in actions:
        if a.resource == "group" and a.key in groups and a.kind == "add_members":
            needed |= {m.key for m in a.members if m.id is None and m.key}
    out = []
    for a in actions:
        if a.resource == "user":
            if a.key in needed:
                out.append(a)
        elif a.key in groups:
            out.append(a)
        else:
            # Only the targeted users' own memberships: a member created because a
            # targeted group needs it does not bring its other groups along.
            members = [m for m in a.members if m.key in users]
            if members:
                out.append(a.model_copy(update={"members": members}))
    # A kept membership in a group the plan creates needs that create.
    kept = {a.key for a in out if a.resource == "group"}
    creates = [a for a in actions if a.kind == "create_group" and a.key in kept]
    out += [a for a in creates if a not in out]
    return out, needed


def memberships(
    full: dict[str, GroupMembers],
    state: StateView,
    touched: set[str],
    groups: set[str],
) -> dict[str, GroupMembers]:
    """What state records after a targeted apply: the targets' memberships as planned,
    everyone else's as they were, so a partial apply never claims the rest."""
    out = {}
    for name, g in full.items():
        if name in groups:
            out[name] = g
            continue
        kept = {k for gn, k in state.memberships if gn == name and k not in touched}
        kept |= {k for k in g.members if k in touched}
        out[name] = GroupMembers(id=g.id, members=sorted(kept))
    return out
