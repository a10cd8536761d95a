"""The manifest's ``policy.rules`` and ``policy.exceptions`` as plain values.

Rules are declarative on purpose: a reviewer reads them in the manifest, and each
kind has one meaning. A role is matched as a :class:`RoleHold` (a role, optionally in
one division) so that role x division grants (``scimctl.model.grants``) are matched by the
same rules: a plain role is held in the user's own division, a grant in its
division, and a grant in all divisions (``*``) in every one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from scimctl.model.grants import ALL_DIVISIONS

RuleKind = Literal["conflict", "requires", "limit", "only"]
EXPIRY_WARNING_DAYS = 14  # exceptions ending this soon are listed first


@dataclass(frozen=True)
class RoleHold:
    """A role, held in ``division`` (None: anywhere / not known).

    ``shown``: the division is part of the name people read (a rule's entry or a
    division-scoped grant); a plain role's division is the user's own, not shown.
    """

    role: str
    division: str | None = None
    shown: bool = True

    def matches(self, held: RoleHold) -> bool:
        """A rule naming a division matches a hold in that division, in all divisions,
        or where the division is not known."""
        if self.role.casefold() != held.role.casefold():
            return False
        if self.division is None or held.division in (None, ALL_DIVISIONS):
            return True
        return self.division.casefold() == held.division.casefold()

    def __str__(self) -> str:
        if self.division is None or not self.shown:
            return self.role
        return (
            f"{self.role} in {'all divisions' if self.division == ALL_DIVISIONS else self.division}"
        )


@dataclass(frozen=True)
class Subject:
    """What a rule is about: holders of a role or members of a group."""

    kind: Literal["role", "group"]
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Condition:
    """One requirement on an account.

    ``set``: the attribute has a value; ``match``: the attribute is one of ``values``
    (compared without case); ``role``/``group``: the account also holds that.
    """

    kind: Literal["set", "match", "role", "group"]
    name: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "set":
            return f"{self.name} set"
        if self.kind == "match":
            return f"{self.name} in [{', '.join(self.values)}]"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    kind: RuleKind
    grants: tuple[RoleHold, ...] = ()  # conflict: no one may hold two of these
    subject: Subject | None = None  # requires (when), limit, only
    conditions: tuple[Condition, ...] = ()  # requires (require), only (only)
    max: int | None = None  # limit
    where: str = ""  # manifest file:line

    def text(self) -> str:
        """The rule in one line, as plans and reports show it."""
        if self.kind == "conflict":
            return "no one may hold two of: " + ", ".join(map(str, self.grants))
        conds = " and ".join(map(str, self.conditions))
        if self.kind == "requires":
            return f"{self.subject} requires {conds}"
        if self.kind == "limit":
            return f"at most {self.max} holding {self.subject}"
        return f"{self.subject} only for {conds}"

    def doc(self) -> dict[str, Any]:
        """What the manifest digest covers (not where it was written)."""
        return {
            "id": self.id, "description": self.description, "kind": self.kind,
            "grants": [[g.role, g.division] for g in self.grants],
            "subject": [self.subject.kind, self.subject.name] if self.subject else None,
            "conditions": [[c.kind, c.name, list(c.values)] for c in self.conditions],
            "max": self.max,
        }  # fmt: skip


@dataclass(frozen=True)
class Exemption:
    """A reviewed exception: ``user`` may break ``rule`` until the end of ``until``."""

    rule: str
    user: str  # externalId or userName
    reason: str
    until: dt.date
    approved_by: str
    where: str = ""

    def covers(self, rule: str, key: str, user_name: str | None) -> bool:
        if rule != self.rule:
            return False
        u = self.user.casefold()
        return u == key.casefold() or (user_name is not None and u == user_name.casefold())

    def active(self, as_of: dt.date) -> bool:
        return as_of <= self.until

    def doc(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "user": self.user, "reason": self.reason,
            "until": self.until.isoformat(), "approved_by": self.approved_by,
        }  # fmt: skip


@dataclass(frozen=True)
class Governance:
    """The rules and exceptions of one manifest, and the day they are judged on."""

    rules: tuple[Rule, ...] = ()
    exceptions: tuple[Exemption, ...] = ()
    as_of: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())

    def doc(self) -> dict[str, Any]:
        """What the manifest digest covers: the rules and exceptions, never the day."""
        return {
            "rules": [r.doc() for r in self.rules],
            "exceptions": [e.doc() for e in self.exceptions],
        }
