"""Role grants per division: who may do what, where.

Genesys SCIM assigns roles by name only; the division a role applies in is a
Platform API concept (``/api/v2/authorization/subjects/{id}``: a user's grants as
role x division). A manifest role given as ``{name: Supervisor, divisions: [Sales]}``
is *scoped*: scimctl manages its grants through the subjects API, one grant per
division. A role given as a plain name stays a SCIM ``roles`` value, granted by
Genesys in the user's own division, as before.

These are plain values shared by the manifest, the plan engine, apply and (later)
governance rules over role x division; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The division id (and name) Genesys uses for "all divisions, present and future".
ALL_DIVISIONS = "*"


@dataclass(frozen=True, order=True)
class Grant:
    """One role granted in one division (names; ``division`` may be ``*``)."""

    role: str
    division: str

    def __str__(self) -> str:
        where = "all divisions" if self.division == ALL_DIVISIONS else self.division
        return f"{self.role} in {where}"


@dataclass(frozen=True)
class RoleScope:
    """A manifest role granted in named divisions (``("*",)``: all divisions)."""

    role: str
    divisions: tuple[str, ...]

    def grants(self) -> frozenset[Grant]:
        return frozenset(Grant(self.role, d) for d in self.divisions)


def desired_grants(scopes: Iterable[RoleScope]) -> frozenset[Grant]:
    out: set[Grant] = set()
    for scope in scopes:
        out |= scope.grants()
    return frozenset(out)


@dataclass(frozen=True)
class GrantRef:
    """A grant with the ids the Platform API takes (``{roleId, divisionId}``)."""

    role: str
    division: str
    role_id: str
    division_id: str

    @property
    def grant(self) -> Grant:
        return Grant(self.role, self.division)

    def doc(self) -> dict[str, str]:
        """How a plan action carries it: names for people, ids for apply."""
        return {
            "role": self.role,
            "division": self.division,
            "roleId": self.role_id,
            "divisionId": self.division_id,
        }

    @classmethod
    def from_doc(cls, doc: Any) -> GrantRef:
        if not isinstance(doc, dict):
            raise ValueError("a grant must be an object")
        values = [doc.get(k) for k in ("role", "division", "roleId", "divisionId")]
        strings = [v for v in values if isinstance(v, str) and v]
        if len(strings) != 4:
            raise ValueError("a grant needs role, division, roleId and divisionId")
        return cls(*strings)


def grant_docs(refs: Iterable[GrantRef]) -> list[dict[str, str]]:
    return [r.doc() for r in sorted(refs, key=lambda r: (r.role, r.division))]


def grant_names(docs: Any) -> list[str]:
    """``["Supervisor in Sales", ...]`` for what a plan or the journal carries."""
    out = []
    for d in docs or []:
        if isinstance(d, dict):
            out.append(str(Grant(str(d.get("role")), str(d.get("division")))))
    return sorted(out)
