"""Who holds what, before a plan and after it: the values the rules are judged on.

*Before* is the directory as read; *after* is that directory with the plan's
actions applied (creates, attribute and role changes, deactivations, deletions,
memberships added and removed). Accounts scimctl does not manage are part of
both, as they are, so a conflict between a managed role and an unmanaged account's
role is still seen. Inactive accounts hold nothing: they cannot use their access.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scimctl.model import Desired, Snapshot, StateView
from scimctl.model.governance import RoleHold
from scimctl.plan.model import Plan


@dataclass(frozen=True)
class Holding:
    """One active account's access, and why it has it."""

    ident: str  # live id, or "new:KEY" for an account the plan creates
    key: str  # externalId (the manifest key), else userName
    user_name: str | None
    attrs: dict[str, Any]
    grants: frozenset[RoleHold]
    groups: frozenset[str]
    where: str | None = None  # the manifest line or CSV row that asks for this account
    managed: bool = False

    def holds(self, grant: RoleHold) -> list[RoleHold]:
        return [g for g in self.grants if grant.matches(g)]


def grants_of(attrs: dict[str, Any]) -> frozenset[RoleHold]:
    """What an account holds, role x division: each division-scoped grant (``grants``,
    as plans and the journal carry them) in its division, and each plain role in the
    user's own division (Genesys grants it there)."""
    scoped = {
        RoleHold(str(d.get("role")), str(d.get("division")))
        for d in attrs.get("grants") or []
        if isinstance(d, dict) and d.get("role")
    }
    names = {g.role for g in scoped}
    home = attrs.get("division") if isinstance(attrs.get("division"), str) else None
    plain = {
        RoleHold(r, home, shown=False)
        for r in attrs.get("roles") or []
        if isinstance(r, str) and r not in names
    }
    return frozenset(scoped | plain)


@dataclass
class _Account:
    key: str
    attrs: dict[str, Any]
    groups: set[str] = field(default_factory=set)
    managed: bool = False


def _live_accounts(snapshot: Snapshot, state: StateView) -> dict[str, _Account]:
    owner = {m.id: key for key, m in state.users.items()}
    members: dict[str, set[str]] = {}
    for g in snapshot.groups:
        for m in g.members:
            members.setdefault(m, set()).add(g.name)
    out: dict[str, _Account] = {}
    for u in snapshot.users:
        key = owner.get(u.id) or u.external_id or u.user_name
        attrs = dict(u.attrs)
        if snapshot.grants.get(u.id):
            attrs["grants"] = [g.doc() for g in snapshot.grants[u.id]]
        out.setdefault(u.id, _Account(key, attrs, set(members.get(u.id, ())), u.id in owner))
    return out


def _freeze(accounts: dict[str, _Account], desired: Desired | None) -> list[Holding]:
    out = []
    for ident, a in accounts.items():
        if a.attrs.get("active", True) is False:
            continue
        spec = desired.users.get(a.key) if desired is not None else None
        name = a.attrs.get("userName")
        out.append(
            Holding(
                ident, a.key, name if isinstance(name, str) else None, a.attrs,
                grants_of(a.attrs), frozenset(a.groups),
                str(spec.location) if spec is not None and spec.location else None,
                a.managed or spec is not None,
            )
        )  # fmt: skip
    return sorted(out, key=lambda h: (h.key, h.ident))


def before(snapshot: Snapshot, state: StateView, desired: Desired | None = None) -> list[Holding]:
    """The directory as read."""
    return _freeze(_live_accounts(snapshot, state), desired)


def after(
    plan: Plan, snapshot: Snapshot, state: StateView, desired: Desired | None = None
) -> list[Holding]:
    """The directory as it will be once ``plan`` has run."""
    accounts = _live_accounts(snapshot, state)
    by_key = {a.key: ident for ident, a in accounts.items()}
    for a in plan.actions:
        if a.resource != "user":
            continue
        after_values = {k: c.after for k, c in a.changes.items()}
        if a.kind in ("create", "restore"):
            ident = a.live_id or f"new:{a.key}"
            attrs = {k: v for k, v in after_values.items() if k != "externalId"}
            attrs.setdefault("userName", a.userName)
            accounts[ident] = _Account(a.key, attrs, set(), True)
            by_key[a.key] = ident
            continue
        ident = a.live_id or by_key.get(a.key, "")
        if a.kind in ("delete", "forget"):
            accounts.pop(ident, None)
            continue
        account = accounts.get(ident)
        if account is None or a.kind == "release":
            continue
        account.key, account.managed = a.key, True
        by_key[a.key] = ident
        account.attrs.update({k: v for k, v in after_values.items() if k != "externalId"})
        if a.kind == "deactivate":
            account.attrs["active"] = False
    for a in plan.actions:
        if a.kind not in ("add_members", "remove_members"):
            continue
        for m in a.members:
            ident = m.id if m.id in accounts else by_key.get(m.key or "", "")
            account = accounts.get(ident)
            if account is None:
                continue
            if a.kind == "add_members":
                account.groups.add(a.key)
            else:
                account.groups.discard(a.key)
    return _freeze(accounts, desired)


def holders(items: Iterable[Holding], kind: str, name: str) -> list[Holding]:
    """Holders of role ``name`` or members of group ``name``."""
    if kind == "role":
        grant = RoleHold(name)
        return [h for h in items if h.holds(grant)]
    folded = name.casefold()
    return [h for h in items if any(g.casefold() == folded for g in h.groups)]
