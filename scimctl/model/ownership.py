"""Attribute ownership: which attributes scimctl owns outright, adds to, or only seeds.

``policy.ownership`` (and a user's own ``ownership:``) sets, per attribute, one of:

* ``authoritative`` (the default): the manifest's value replaces the live one;
* ``additive`` (list attributes only: ``phoneNumbers``, ``skills``, ``languages``,
  ``roles``, ``groups``): scimctl adds what the manifest asks for and removes only
  what it applied itself earlier (the state's last applied value); whatever someone
  else added stays;
* ``ignore``: set when scimctl creates the account, never changed afterwards.

What ownership keeps is reported in the plan under "Left alone", so a reviewer sees
why nothing happened. Pure values and functions: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MODES = ("authoritative", "additive", "ignore")
ALIASES = {"skills": "routingSkills", "languages": "routingLanguages"}
LIST_ATTRS = ("phoneNumbers", "routingSkills", "routingLanguages", "roles", "groups")
OWNABLE = (
    "displayName", "title", "department", "division", "employeeNumber", "workEmail",
    "dateHire", "manager", "phoneNumbers", "routingSkills", "routingLanguages", "roles",
    "groups",
)  # fmt: skip


def canonical_modes(raw: dict[str, str]) -> dict[str, str]:
    """``raw`` with attribute aliases resolved; ValueError naming a bad entry."""
    out: dict[str, str] = {}
    for name, mode in raw.items():
        attr = ALIASES.get(name, name)
        if attr not in OWNABLE:
            allowed = ", ".join(sorted({*OWNABLE, *ALIASES}))
            raise ValueError(f"{name!r} is not an attribute ownership applies to ({allowed})")
        if mode not in MODES:
            raise ValueError(f"{name}: {mode!r} is not one of {', '.join(MODES)}")
        if mode == "additive" and attr not in LIST_ATTRS:
            raise ValueError(f"{name}: additive applies to list attributes only")
        out[attr] = mode
    return out


@dataclass(frozen=True)
class Ownership:
    defaults: dict[str, str] = field(default_factory=dict)
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> overrides

    def mode(self, key: str, attr: str) -> str:
        user = self.users.get(key)
        if user and attr in user:
            return user[attr]
        return self.defaults.get(attr, "authoritative")

    def digest_doc(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "users": self.users}


@dataclass(frozen=True)
class Kept:
    """A value ownership left in place instead of changing it."""

    key: str
    user_name: str | None
    attribute: str
    mode: str
    values: Any


def owned_attrs(
    key: str,
    attrs: dict[str, Any],
    live_attrs: dict[str, Any] | None,
    applied: dict[str, Any] | None,
    ownership: Ownership | None,
) -> tuple[dict[str, Any], list[Kept]]:
    """The attributes to want for an existing account, and what ownership keeps.

    ``live_attrs`` None: the account is new, and everything is set as the manifest says.
    """
    if ownership is None or live_attrs is None:
        return attrs, []
    out = dict(attrs)
    kept: list[Kept] = []
    user_name = live_attrs.get("userName")
    for attr in sorted(attrs):
        mode = ownership.mode(key, attr)
        if mode == "authoritative" or attr not in OWNABLE:
            continue
        want, live = attrs[attr], live_attrs.get(attr)
        if mode == "ignore":
            del out[attr]
            if live != want and not (_as_set(live) == _as_set(want) and attr in LIST_ATTRS):
                kept.append(Kept(key, user_name, attr, mode, live))
            continue
        mine = _as_set((applied or {}).get(attr))
        wanted = _as_set(want)
        extra = [v for v in live or [] if _freeze(v) not in wanted | mine]
        if extra:
            out[attr] = sorted([*(want or []), *extra])
            kept.append(Kept(key, user_name, attr, mode, sorted(extra)))
    return out, kept


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _as_set(values: Any) -> set[Any]:
    return {_freeze(v) for v in values or []} if isinstance(values, list) else set()
