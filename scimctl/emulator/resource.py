"""What the emulator's directory holds and the error it answers with: a module of its
own so the directory's helpers (divisions, the lagging search index) can use them
without importing the directory back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Resource", "ScimError", "now"]


class ScimError(Exception):
    """An error answer in SCIM shape: HTTP status, optional scimType, detail."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Resource:
    id: str
    doc: dict[str, Any]
    version: int = 1
    created: str = field(default_factory=now)
    modified: str = field(default_factory=now)
    deleted: bool = False

    def touch(self) -> None:
        self.version += 1
        self.modified = now()
