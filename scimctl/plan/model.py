"""The plan: a versioned JSON document, and the one value every command works from.

``plan`` computes it, ``show`` renders it, ``apply`` runs it. It records what the
plan was computed from (target, manifest digest, state lineage and serial, and the
live version of every resource an action touches) so that apply can refuse a plan
that no longer matches. It never holds a secret. See docs/plan-format.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scimctl.errors import ScimctlError

FORMAT_VERSION = 1

ActionKind = Literal[
    "create",
    "adopt",
    "rekey",
    "update",
    "reactivate",
    "deactivate",
    "delete",
    "forget",
    "add_members",
    "remove_members",
]
# The order actions are listed and, within dependencies, run.
KIND_ORDER: tuple[str, ...] = (
    "create",
    "adopt",
    "rekey",  # a managed or live account moves to a new externalId (a rehire)
    "update",
    "reactivate",
    "add_members",
    "remove_members",
    "deactivate",
    "delete",
    "forget",
)
USER_KINDS = frozenset(KIND_ORDER) - {"add_members", "remove_members"}
DEPROVISION_KINDS = frozenset({"deactivate", "delete"})


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(PlanModel):
    before: Any = None
    after: Any = None


class Member(PlanModel):
    key: str | None = None  # externalId when scimctl manages the user
    id: str | None = None  # live id when the user exists already
    userName: str | None = None


class Action(PlanModel):
    id: str
    kind: ActionKind
    resource: Literal["user", "group"]
    key: str  # externalId for users, name for groups
    live_id: str | None = None
    version: str | None = None  # the live version (ETag) the plan saw
    userName: str | None = None
    changes: dict[str, Change] = Field(default_factory=dict)
    members: list[Member] = Field(default_factory=list)
    reason: str | None = None

    @property
    def after(self) -> dict[str, Any]:
        return {k: c.after for k, c in self.changes.items()}


class GroupMembers(PlanModel):
    id: str
    members: list[str]  # user keys


class Summary(PlanModel):
    counts: dict[str, int]
    changes: int
    unmanaged_users: int = 0  # live users scimctl neither manages nor touches
    unmanaged_members: int = 0  # group members left alone because scimctl does not own them
    managed_users: int = 0


class Plan(PlanModel):
    format_version: int = FORMAT_VERSION
    scimctl_version: str
    workspace: str
    target: dict[str, str]
    manifest_digest: str
    state: dict[str, Any]  # {"lineage": str, "serial": int}
    policy: dict[str, Any]
    actions: list[Action]
    summary: Summary
    # Each declared group's live id and the managed users it will hold after apply
    # (hierarchy flattened), so apply can record the managed memberships in state.
    memberships: dict[str, GroupMembers] = Field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_json().encode()).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlanFileError(f"{path}: cannot read plan: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise PlanFileError(f"{path}:{exc.lineno}: not a JSON plan: {exc.msg}") from None
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if version != FORMAT_VERSION:
            raise PlanFileError(
                f"{path}: plan format_version {version!r} "
                f"is not supported (expected {FORMAT_VERSION})"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlanFileError(f"{path}: invalid plan at {where}: {first['msg']}") from None


class PlanFileError(ScimctlError, ValueError):
    pass
