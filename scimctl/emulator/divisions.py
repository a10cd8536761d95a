"""Divisions: the names a user's enterprise ``division`` may take, and which ones the
OAuth client may write to.

Genesys identifies a SCIM user's division by *name* (docs/genesys.md, Roles and divisions); an
unknown name is refused, and so is a write into (or out of) a division in which the
client holds no grant. Every org has the ``Home`` division; a user created without a
division lands there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from scimctl.emulator.resource import ScimError

HOME = "Home"
# The permission scimctl's writes need, as Genesys names it for divisionspermitted.
USER_EDIT = "directory:user:edit"


def division_id(name: str) -> str:
    """Stable ids, so a seed gives the same division ids on every start."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"genesys-division:{name}"))


@dataclass(frozen=True)
class Division:
    name: str
    writable: bool = True
    description: str = ""

    @property
    def id(self) -> str:
        return division_id(self.name)

    def doc(self) -> dict[str, Any]:
        """The Platform API's AuthzDivision shape."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "homeDivision": self.name == HOME,
            "selfUri": f"/api/v2/authorization/divisions/{self.id}",
        }


class Divisions:
    """The org's divisions by name; ``Home`` always exists."""

    def __init__(self) -> None:
        self.by_name: dict[str, Division] = {HOME: Division(HOME)}

    def add(self, name: str, writable: bool = True, description: str = "") -> Division:
        division = Division(name, writable, description)
        self.by_name[name] = division
        return division

    def ordered(self) -> list[Division]:
        return sorted(self.by_name.values(), key=lambda d: d.name.lower())

    def check(self, name: Any) -> None:
        """Refuse a division the org does not have, or one the client may not write."""
        if not isinstance(name, str) or name not in self.by_name:
            raise ScimError(
                400, f"The division {name!r} does not exist in this organization", "invalidValue"
            )
        self.check_writable(name)

    def check_writable(self, name: str | None) -> None:
        division = self.by_name.get(name or HOME)
        if division is not None and not division.writable:
            raise ScimError(
                403,
                f"missing.division.permission: the OAuth client has no {USER_EDIT} grant "
                f"in division {division.name!r}",
            )
