"""The domain vocabulary the plan is computed over.

The manifest layer turns YAML and CSV into :class:`Desired`; the SCIM layer turns
wire documents into a :class:`Snapshot`; the state store gives a :class:`StateView`.
The plan engine sees only these three values, so it is pure and testable without
a server, and neither the manifest's pydantic models nor SCIM JSON leak into it.

User attributes are kept in one canonical, JSON-native form (strings, booleans,
sorted lists) so that comparing desired and live values never reports a false
difference for order or case that Genesys does not care about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scimctl.model.governance import Governance

from scimctl.model.grants import GrantRef, RoleScope
from scimctl.model.ownership import Ownership

# Attributes scimctl can manage on a user, in display order.
USER_ATTRIBUTES: tuple[str, ...] = (
    "userName",
    "displayName",
    "active",
    "title",
    "department",
    "division",
    "employeeNumber",
    "workEmail",
    "dateHire",
    "manager",  # the manager's key (externalId); Genesys holds the manager's live id
    "phoneNumbers",
    "routingSkills",  # sorted [name, proficiency] pairs
    "routingLanguages",
    "roles",
)

Attrs = dict[str, Any]

# Fields a redacted plan may mask: contact data and names, never what a reviewer needs
# to judge a move (title, department, division, roles, groups) nor the keys apply uses.
REDACTABLE: tuple[str, ...] = (
    "phoneNumbers",
    "workEmail",
    "userName",
    "displayName",
    "employeeNumber",
)
DEFAULT_REDACT: tuple[str, ...] = ("phoneNumbers", "workEmail")


@dataclass(frozen=True)
class Location:
    """Where a piece of desired state came from, for error messages."""

    file: str
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        if self.row is not None:
            return f"{self.file}: row {self.row}"
        if self.line is not None:
            return f"{self.file}:{self.line}"
        return self.file


@dataclass(frozen=True)
class UserSpec:
    key: str  # externalId: the stable identity from HR
    attrs: Attrs  # only the attributes the manifest manages
    groups: tuple[str, ...] = ()
    location: Location | None = None
    previous_keys: tuple[str, ...] = ()  # earlier externalIds (a rehire): re-key, not refuse
    # Roles granted in named divisions (manifest ``{name, divisions}``), managed as
    # grants through the Platform API rather than as SCIM ``roles`` values.
    scopes: tuple[RoleScope, ...] = ()


@dataclass(frozen=True)
class GroupSpec:
    name: str
    parent: str | None = None
    authoritative: bool = False
    location: Location | None = None
    create: bool = False  # the manifest lets plan create it when the directory lacks it


@dataclass(frozen=True)
class Policy:
    max_group_depth: int = 5
    deny_permissions: tuple[str, ...] = ("authorization:*", "oauth:*", "admin", "admin:*")
    deprovision: str = "deactivate"  # deactivate | delete | ignore
    max_deprovision: str = "10%"  # a count ("25") or a share of managed users ("10%")
    password: str = "none"  # none | generate
    # The role the service grants on its own (Genesys: Employee to a user created
    # without roles). A role list that leaves it out keeps it: see docs/emulator.md.
    default_role: str | None = "Employee"
    hris_webhook: str | None = None  # where provisioning events are delivered, if anywhere


# Attributes a manifest may declare a target never stores (``target.unsupported``):
# what scimctl sends besides the keys (userName, externalId) and active, which it
# cannot do without. ``groups`` stands for group membership.
DECLARABLE = (
    "displayName", "title", "department", "division", "employeeNumber", "workEmail",
    "dateHire", "manager", "phoneNumbers", "routingSkills", "routingLanguages", "roles",
    "groups",
)  # fmt: skip
# How apply looks a user up (a create whose outcome is unknown): a filter on the
# externalId then the userName, a filter on the userName only, or every page read.
LOOKUPS = ("externalId", "userName", "pages")


@dataclass(frozen=True)
class TargetLimits:
    """What the manifest says of its target's limits, and how scimctl copes with them
    (docs/interop.md): attributes the service never stores are never sent nor
    compared, and ``lookup`` replaces the externalId filter a service lacks."""

    unsupported: frozenset[str] = frozenset()
    lookup: str = "externalId"
    where: str = ""  # the manifest's target, "scimctl.yaml:2", for messages


@dataclass(frozen=True)
class Desired:
    users: dict[str, UserSpec]
    groups: dict[str, GroupSpec]
    policy: Policy = field(default_factory=Policy)
    # Accounts scimctl must never touch (externalIds or userNames): not desired, not
    # deprovisioned, and released from state if it manages them.
    exclude: frozenset[str] = frozenset()
    # policy.rules and policy.exceptions (None: the manifest has neither).
    governance: Governance | None = None
    # policy.ownership and users' own ownership: (None: everything authoritative).
    ownership: Ownership | None = None
    limits: TargetLimits = field(default_factory=TargetLimits)


@dataclass(frozen=True)
class LiveUser:
    id: str
    external_id: str | None
    attrs: Attrs
    version: str | None = None
    modified: str | None = None  # meta.lastModified: when the directory says it changed

    @property
    def user_name(self) -> str:
        return str(self.attrs["userName"])

    @property
    def active(self) -> bool:
        return bool(self.attrs.get("active", True))


@dataclass(frozen=True)
class LiveGroup:
    id: str
    name: str
    members: frozenset[str]
    version: str | None = None


@dataclass(frozen=True)
class LiveRole:
    id: str
    name: str
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class LiveDivision:
    id: str
    name: str
    writable: bool = True  # the client holds a grant to edit users in it


@dataclass(frozen=True)
class DeletedUser:
    """A soft-deleted account (Platform API): invisible to SCIM, its email still reserved."""

    id: str
    user_name: str
    version: int
    display_name: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """One read of the live directory (active and inactive users, groups, roles).

    ``divisions`` is None when the service has no divisions API (a generic SCIM
    target): division names are then not checked.

    ``deleted`` holds deleted accounts, read through the Platform API only when the
    plan has creates (a create whose userName a deleted account holds is a restore).
    """

    users: tuple[LiveUser, ...]
    groups: tuple[LiveGroup, ...]
    roles: tuple[LiveRole, ...]
    # False for a generic SCIM service: roles are plain values with no catalogue to
    # check names or permissions against (the deny_permissions policy is Genesys-only).
    roles_known: bool = True
    # Routing skill and language names (Platform API); None when not read.
    skills: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    divisions: tuple[LiveDivision, ...] | None = None
    deleted: tuple[DeletedUser, ...] = ()
    # The service can create groups (a generic SCIM service listing a Group resource
    # type); Genesys cannot (POST /groups is gone), so there it stays False.
    groups_creatable: bool = False
    # Direct role grants per live user id, for the roles the manifest scopes by
    # division (``grant_roles``), read per role from a paged listing; see grants.py.
    grants: dict[str, tuple[GrantRef, ...]] = field(default_factory=dict)
    grant_roles: frozenset[str] = frozenset()

    @cached_property
    def deleted_by_name(self) -> dict[str, DeletedUser]:
        out: dict[str, DeletedUser] = {}
        for d in self.deleted:
            out.setdefault(d.user_name.lower(), d)
        return out

    @cached_property
    def index(self) -> LiveIndex:
        """The one way live users are looked up, shared by the checks and the diff."""
        return LiveIndex(self.users)


class LiveIndex:
    """Live users by id, externalId and userName (case-insensitive).

    Two live accounts can share an externalId or (differing only in case) a userName;
    the first one listed wins everywhere, so the checks and the diff always agree on
    which account a desired user meets.
    """

    def __init__(self, users: tuple[LiveUser, ...]) -> None:
        self.by_id: dict[str, LiveUser] = {}
        self.by_ext: dict[str, LiveUser] = {}
        self.by_name: dict[str, LiveUser] = {}
        for u in users:
            self.by_id.setdefault(u.id, u)
            if u.external_id:
                self.by_ext.setdefault(u.external_id, u)
            self.by_name.setdefault(u.user_name.lower(), u)

    def named(self, user_name: str) -> LiveUser | None:
        return self.by_name.get(user_name.lower())


def same(attr: str, a: Any, b: Any) -> bool:
    """Equality as Genesys means it: userName is case-insensitive, None is unset."""
    if attr == "userName" and isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if attr in ("phoneNumbers", "roles", "routingSkills", "routingLanguages"):
        return bool(sorted(a or []) == sorted(b or []))
    return bool(a == b)


@dataclass(frozen=True)
class ManagedUser:
    id: str
    user_name: str
    version: str | None = None  # the version the last apply saw, to spot a lagging listing


@dataclass(frozen=True)
class StateView:
    """What scimctl manages, as recorded by the last apply."""

    lineage: str
    serial: int
    users: dict[str, ManagedUser] = field(default_factory=dict)  # key -> live id
    groups: dict[str, str] = field(default_factory=dict)  # name -> live id
    memberships: frozenset[tuple[str, str]] = frozenset()  # (group name, user key)
    # The attributes scimctl last applied (or adopted) per user key: what "drift" and
    # the plan's "reverts a change made in Genesys" effect compare the directory with.
    applied: dict[str, Attrs] = field(default_factory=dict)

    @classmethod
    def empty(cls, lineage: str = "") -> StateView:
        return cls(lineage=lineage, serial=0)
