"""Problems found in the input, reported all at once with where they are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "error_message", "field_path"]


@dataclass(frozen=True, order=True)
class Problem:
    where: str  # "scimctl.yaml:12" or "hr/export.csv: row 7" or "directory"
    field: str  # "users[3].userName", "roles", ...
    message: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.where}:{field} {self.message}"


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as users write it: users[3].phoneNumbers[0].value."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def error_message(error: Mapping[str, Any]) -> str:
    """A pydantic error message without pydantic's own prefix."""
    return str(error["msg"]).removeprefix("Value error, ")
