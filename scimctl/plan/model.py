"""The plan: a versioned JSON document, and the one value every command works from.

``plan`` computes it, ``show`` renders it, ``apply`` runs it. It records what the
plan was computed from (target, manifest digest, state lineage and serial, and the
live version of every resource an action touches) so that apply can refuse a plan
that no longer matches. It never holds a secret. See docs/plan-format.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from scimctl import __version__
from scimctl.errors import PlanFileError
from scimctl.governance.report import GovernanceReport
from scimctl.model import DEFAULT_REDACT
from scimctl.plan import integrity
from scimctl.scim.ids import check_id

# 2: actions carry effects; the saved file carries a content digest (and maybe a
# signature); the plan has review settings and warnings.
FORMAT_VERSION = 2

ActionKind = Literal[
    "create",
    "restore",
    "adopt",
    "rekey",
    "update",
    "reactivate",
    "grants",
    "deactivate",
    "delete",
    "forget",
    "release",
    "create_group",
    "add_members",
    "remove_members",
]
# The order actions are listed and, within dependencies, run.
KIND_ORDER: tuple[str, ...] = (
    "create",
    "restore",
    "adopt",
    "rekey",  # a managed or live account moves to a new externalId (a rehire)
    "update",
    "reactivate",
    "grants",  # role x division grants (Platform API), after the user's own write
    "create_group",  # before its members are added (the executor waits for it too)
    "add_members",
    "remove_members",
    "deactivate",
    "delete",
    "forget",
    "release",
)
GROUP_KINDS = frozenset({"create_group", "add_members", "remove_members"})
USER_KINDS = frozenset(KIND_ORDER) - GROUP_KINDS
DEPROVISION_KINDS = frozenset({"deactivate", "delete"})

EffectKind = Literal[
    "deletion",
    "deactivation",
    "reactivation",
    "role_granted",
    "role_removed",
    "grant_added",
    "grant_removed",
    "group_removal",
    "username_change",
    "rekey",
    "adoption",
    "restore",
    "release",
    "reverts_drift",
    "group_creation",
]
# Summary keys, most dangerous first; the summary line and every renderer use this order.
# A role effect counts under "privileged_role_granted" when the role is privileged.
EFFECT_ORDER: tuple[str, ...] = (
    "deletion",
    "deactivation",
    "reactivation",
    "privileged_role_granted",
    "role_granted",
    "role_removed",
    "grant_removed",  # a role taken away in one division (Platform API grants)
    "grant_added",  # a role granted in one division
    "group_removal",
    "username_change",
    "rekey",
    "adoption",
    "restore",
    "release",
    "reverts_drift",
    "group_creation",  # a new, empty group: it grants nothing until members are added
)
# Effects that take access away or change it on an account that exists already.
ALWAYS_REVIEW = frozenset(
    {
        "deletion",
        "deactivation",
        "reactivation",
        "role_removed",
        "grant_removed",
        "grant_added",
        "group_removal",
        "username_change",
        "rekey",
        "restore",
        "release",
        "reverts_drift",
    }
)


def _live_id(value: str | None) -> str | None:
    """A plan file names live ids that apply puts in URLs: the rule answers pass."""
    return None if value is None else check_id(value, "the plan")


# A live id: checked like every id from the service, so an edited plan cannot steer a write.
LiveId = Annotated[str | None, AfterValidator(_live_id)]


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(PlanModel):
    before: Any = None
    after: Any = None


class Member(PlanModel):
    key: str | None = None  # externalId when scimctl manages the user
    id: LiveId = None  # live id when the user exists already
    userName: str | None = None


class Effect(PlanModel):
    """What an action does to someone's access, so review can start with the risky ones."""

    kind: EffectKind
    # the role (role effects), the member (group_removal), the attribute (reverts_drift)
    subject: str | None = None
    privileged: bool = False  # role effects: the role grants a privileged permission

    @property
    def summary_key(self) -> str:
        if self.kind == "role_granted" and self.privileged:
            return "privileged_role_granted"
        return self.kind


class Action(PlanModel):
    id: str
    kind: ActionKind
    resource: Literal["user", "group"]
    key: str  # externalId for users, name for groups
    live_id: LiveId = None
    version: str | None = None  # the live version (ETag) the plan saw
    userName: str | None = None
    changes: dict[str, Change] = Field(default_factory=dict)
    members: list[Member] = Field(default_factory=list)
    reason: str | None = None
    effects: list[Effect] = Field(default_factory=list)

    @property
    def after(self) -> dict[str, Any]:
        return {k: c.after for k, c in self.changes.items()}

    @property
    def needs_review(self) -> bool:
        """Destructive or privilege-changing: listed first and never cut from a comment.

        A new account's ordinary roles are part of creating it; any privileged grant,
        and any grant to an account that already exists, changes who may do what.
        """
        for e in self.effects:
            if e.kind in ALWAYS_REVIEW:
                return True
            if e.kind == "role_granted" and (e.privileged or self.kind != "create"):
                return True
        return False


class LeftAlone(PlanModel):
    """A live value kept because of attribute ownership: why nothing happened to it."""

    key: str
    userName: str | None = None
    attribute: str
    ownership: Literal["additive", "ignore"]
    values: Any = None  # additive: the values kept; ignore: the live value


class NotSupported(PlanModel):
    """An attribute the target does not store, so the plan does not propose it: declared
    in the manifest (``target.unsupported``: never sent) or learned at apply (a value
    sent and not kept, recorded in the state: not sent again until it changes)."""

    attribute: str
    source: Literal["manifest", "learned"]
    users: int = 0  # learned: the users whose value the service did not keep
    example: str | None = None  # learned: one of them (its key)


class GroupMembers(PlanModel):
    id: LiveId = None  # None: the plan creates the group (create_group)
    members: list[str]  # user keys


class Summary(PlanModel):
    counts: dict[str, int]
    changes: int
    # Effects counted by EFFECT_ORDER key, and how many of them come with an adoption.
    effects: dict[str, int] = Field(default_factory=dict)
    through_adoption: dict[str, int] = Field(default_factory=dict)
    unmanaged_users: int = 0  # live users scimctl neither manages nor touches
    unmanaged_members: int = 0  # group members left alone because scimctl does not own them
    managed_users: int = 0


class Review(PlanModel):
    """How this plan is shown to reviewers (the manifest's ``review:`` section)."""

    redact: list[str] = Field(default_factory=lambda: list(DEFAULT_REDACT))
    # True when this document's display values are masked: it shows what will change,
    # but its values must not be written; apply recomputes the plan and compares.
    redacted: bool = False


class PlanTarget(PlanModel):
    """Where the plan's writes go: the manifest's target, resolved to URLs."""

    provider: Literal["genesys", "scim"]
    api_url: str
    login_url: str


class PlanState(PlanModel):
    """The state the plan was computed against; apply refuses it once this moved."""

    lineage: str
    serial: int = Field(ge=0)


class PlanPolicy(PlanModel):
    """The manifest's policy as the plan applied it (apply re-reads it from the manifest
    and compares; it never trusts these values alone)."""

    max_group_depth: int
    deny_permissions: list[str]
    deprovision: Literal["deactivate", "delete", "ignore"]
    max_deprovision: str
    password: Literal["none", "generate"]
    default_role: str | None = None
    hris_webhook: str | None = None  # masked: a credential in the URL stays in the manifest


class Cost(PlanModel):
    """The plan's estimated cost (scimctl/plan/cost.py); informative, never compared."""

    requests: int = Field(ge=0)
    writes: int = Field(ge=0)
    reads: int = Field(ge=0)  # apply's re-read of the directory before it writes
    per_minute: int = Field(ge=1)
    tokens: int = Field(ge=1)
    seconds: float = Field(ge=0)


class Plan(PlanModel):
    format_version: int = FORMAT_VERSION
    scimctl_version: str
    workspace: str
    target: PlanTarget
    manifest_digest: str
    state: PlanState
    policy: PlanPolicy
    actions: list[Action]
    summary: Summary
    # Each declared group's live id and the managed users it will hold after apply
    # (hierarchy flattened), so apply can record the managed memberships in state.
    memberships: dict[str, GroupMembers] = Field(default_factory=dict)
    review: Review = Field(default_factory=Review)
    # Things a reviewer must know that are not actions (a new state facing managed
    # accounts, for one); every renderer shows them and --detailed-exitcode is not 0.
    warnings: list[str] = Field(default_factory=list)
    # A targeted plan (``plan --target``) is partial: it holds only these resources and
    # what they need; apply recomputes with the same targets. Empty: the whole manifest.
    targets: list[str] = Field(default_factory=list)
    # The manifest's policy.rules judged on what this plan leaves behind (None: no rules).
    governance: GovernanceReport | None = None
    cost: Cost | None = None
    # Values attribute ownership (policy.ownership) kept instead of changing them.
    left_alone: list[LeftAlone] = Field(default_factory=list)
    # Attributes the target does not store: shown, not proposed (scimctl/plan/limits.py).
    not_supported: list[NotSupported] = Field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.targets)

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
        from scimctl.plan.files import write_text

        write_text(path, self.to_json(key), "plan file")

    @classmethod
    def load(cls, path: str | Path, key: str | None = None) -> Plan:
        """Read a saved plan, refusing a damaged, edited or (given ``key``) unsigned one.

        Everything is checked before the caller can act on any field, so a bad
        file stops apply before it connects anywhere.
        """
        from scimctl.plan.files import check_regular

        try:
            check_regular(path, "plan file")
        except ValueError as exc:
            raise PlanFileError(str(exc)) from None
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
            # Another scimctl may apply a plan only if it reads the same format: the
            # message names both, so the operator knows which version to plan with.
            made_by = raw.get("scimctl_version")
            made_by = f"scimctl {made_by}" if isinstance(made_by, str) else "another scimctl"
            raise PlanFileError(
                f"{path}: made by {made_by} in plan format {version!r}; this is scimctl "
                f"{__version__}, which reads plan format {FORMAT_VERSION}: run plan again "
                "with this version (or apply with the version that made the plan)"
            )
        integrity.verify(raw, key, source=str(path))
        body = {k: v for k, v in raw.items() if k not in integrity.SEAL_FIELDS}
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlanFileError(f"{path}: invalid plan at {where}: {first['msg']}") from None
