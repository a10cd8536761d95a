"""Problems found in the input, reported all at once with where they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimctl.errors import ScimctlError


@dataclass(frozen=True, order=True)
class Problem:
    where: str  # "scimctl.yaml:12" or "hr/export.csv: row 7" or "directory"
    field: str  # "users[3].userName", "roles", ...
    message: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.where}:{field} {self.message}"


class InputError(ScimctlError):
    """Bad input: carries every problem found, never just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=_natural)
        super().__init__("\n".join(str(p) for p in self.problems))


def _natural(p: Problem) -> tuple:
    # Sort "file:9" before "file:10".
    head, _, tail = p.where.rpartition(":")
    num = tail.strip().removeprefix("row ").strip()
    return (head, int(num) if num.isdigit() else 0, p.where, p.field, p.message)


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as users write it: users[3].phoneNumbers[0].value."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def error_message(error: dict[str, Any]) -> str:
    """A pydantic error message without pydantic's own prefix."""
    return str(error["msg"]).removeprefix("Value error, ")
