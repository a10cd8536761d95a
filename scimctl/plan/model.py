"""The plan: a versioned JSON document, and the one value every command works from.

``plan`` computes it, ``show`` renders it, ``apply`` runs it. It records what the
plan was computed from (target, manifest digest, state lineage and serial, and the
live version of every resource an action touches) so that apply can refuse a plan
that no longer matches. It never holds a secret. See docs/plan-format.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scimctl.errors import ScimctlError
from scimctl.plan import integrity

# 2: the saved file carries a content digest (and maybe a signature); Plan has warnings.
FORMAT_VERSION = 2

ActionKind = Literal[
    "create",
    "adopt",
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
    # Things a reviewer must know that are not actions (a new state facing managed
    # accounts, for one); every renderer shows them and --detailed-exitcode is not 0.
    warnings: list[str] = Field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def to_json(self, key: str | None = None) -> str:
        """The document as saved: sealed with its digest (and signed, given ``key``)."""
        doc = integrity.seal(self.model_dump(mode="json"), key)
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @property
    def digest(self) -> str:
        """The content digest a saved file carries, so runs and files can be matched."""
        return integrity.content_digest(self.model_dump(mode="json"))

    def save(self, path: str | Path, key: str | None = None) -> None:
        Path(path).write_text(self.to_json(key), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, key: str | None = None) -> Plan:
        """Read a saved plan, refusing a damaged, edited or (given ``key``) unsigned one.

        Everything is checked before the caller can act on any field, so a bad
        file stops apply before it connects anywhere.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PlanFileError(f"{path}: cannot read plan: {exc.strerror}") from None
        try:
            raw = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise PlanFileError(f"{path}: not a plan file (not UTF-8 text)") from None
        except json.JSONDecodeError as exc:
            raise PlanFileError(f"{path}:{exc.lineno}: not a JSON plan: {exc.msg}") from None
        except RecursionError:
            raise PlanFileError(f"{path}: not a plan file (nested too deeply)") from None
        if not isinstance(raw, dict):
            raise PlanFileError(f"{path}: not a plan file (a JSON object was expected)")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise PlanFileError(
                f"{path}: plan format_version {version!r} "
                f"is not supported (expected {FORMAT_VERSION}); run plan again"
            )
        integrity.verify(raw, key, source=str(path))
        body = {k: v for k, v in raw.items() if k not in integrity.SEAL_FIELDS}
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlanFileError(f"{path}: invalid plan at {where}: {first['msg']}") from None


class PlanFileError(ScimctlError, ValueError):
    pass
