"""What the manifest needs of its target, against what the target announces.

``doctor`` finds these; ``plan`` and apply's recomputation refuse on them before
reading the directory, naming the manifest line and the capability, unless the
manifest says how to cope (``target.unsupported``: an attribute is not sent and not
compared, ``groups``: memberships are not managed; ``target.lookup``: how a user is
looked up without a filter on externalId). Everything here comes from the discovery
documents the client reads once per run; Genesys's are known and cost no request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scimctl.errors import Problem
from scimctl.model import Desired, Location
from scimctl.scim.schema import CORE_GROUP, CORE_USER, ENTERPRISE_USER, GENESYS_USER
from scimctl.text import count

# Where each attribute scimctl writes lives in the SCIM User (RFC 7643 4.1, 4.3).
ATTRIBUTE_PATHS = {
    "displayName": "displayName",
    "title": "title",
    "workEmail": "emails",
    "phoneNumbers": "phoneNumbers",
    "roles": "roles",
    **{a: f"{ENTERPRISE_USER}:{a}" for a in ("department", "division", "employeeNumber")},
    "dateHire": f"{ENTERPRISE_USER}:dateHire",
    "manager": f"{ENTERPRISE_USER}:manager",
    "routingSkills": f"{GENESYS_USER}:routingSkills",
    "routingLanguages": f"{GENESYS_USER}:routingLanguages",
}
# Mutabilities (RFC 7643 7) that a PATCH of the attribute cannot get past.
NOT_WRITABLE = ("readOnly", "immutable")
COPE = "declare it in target.unsupported to stop sending it, or remove it from the manifest"


@dataclass(frozen=True)
class Schemas:
    """The mutability of each attribute the service's /Schemas lists, by schema id.

    A schema the service does not list is unknown (nothing is refused on it); an
    attribute missing from a listed schema is one the service does not have."""

    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    def mutability(self, path: str) -> str | None:
        """``readWrite`` and the like; ``"absent"``; None when the schema is unknown."""
        schema, _, name = path.rpartition(":")
        if not schema:
            schema = CORE_GROUP if name == "members" else CORE_USER
        listed = self.attributes.get(schema)
        if listed is None:
            return None
        return listed.get(name.lower(), "absent")


def parse_schemas(docs: Iterable[object]) -> Schemas:
    out: dict[str, dict[str, str]] = {}
    for doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            continue
        attrs = doc.get("attributes")
        if not isinstance(attrs, list):
            continue
        out[doc["id"]] = {
            str(a["name"]).lower(): str(a.get("mutability") or "readWrite")
            for a in attrs
            if isinstance(a, dict) and isinstance(a.get("name"), str)
        }
    return Schemas(out)


def _first(desired: Desired, name: str) -> tuple[list[str], Location | None]:
    keys = sorted(k for k, s in desired.users.items() if s.attrs.get(name) not in (None, [], ""))
    return keys, (desired.users[keys[0]].location if keys else None)


def attribute_problems(desired: Desired, schemas: Schemas) -> list[Problem]:
    """Attributes the manifest sets that the service's schema lacks or will not let a
    PATCH change."""
    problems = []
    for name, path in ATTRIBUTE_PATHS.items():
        if name in desired.limits.unsupported:
            continue
        mutability = schemas.mutability(path)
        if mutability is None or mutability not in (*NOT_WRITABLE, "absent"):
            continue
        keys, loc = _first(desired, name)
        if not keys:
            continue
        what = (
            f"the service's schema (/Schemas) has no {path}"
            if mutability == "absent"
            else f"the service's schema (/Schemas) makes {path} {mutability}, so PATCH "
            "cannot change it"
        )
        problems.append(
            Problem(
                str(loc or desired.limits.where or "manifest"),
                name,
                f"set for {count(len(keys), 'user')} (e.g. {keys[0]}), but {what}; {COPE}",
            )
        )
    return problems


def group_problems(
    desired: Desired, resource_types: tuple[str, ...], schemas: Schemas
) -> list[Problem]:
    """Group membership needs a Group resource whose members PATCH can change."""
    if not desired.groups or "groups" in desired.limits.unsupported:
        return []
    if "Group" not in resource_types:
        why = "the service lists no Group resource type (/ResourceTypes)"
    elif schemas.mutability("members") in (*NOT_WRITABLE, "absent"):
        why = f"the Group schema (/Schemas) makes members {schemas.mutability('members')}"
    else:
        return []
    first = min(desired.groups.values(), key=lambda g: g.name)
    return [
        Problem(
            str(first.location or desired.limits.where or "manifest"),
            "groups",
            f"the manifest manages {count(len(desired.groups), 'group')}, but {why}; declare "
            "groups in target.unsupported to manage no memberships, or remove the groups",
        )
    ]


def lookup_problems(desired: Desired, can_filter: bool) -> list[Problem]:
    """apply looks a user up (a create whose outcome is unknown) by a filter on
    externalId: a service that cannot filter would find no one, and the create would
    be sent twice."""
    if can_filter or desired.limits.lookup != "externalId" or not desired.users:
        return []
    return [
        Problem(
            desired.limits.where or "manifest",
            "target.lookup",
            "the service announces no filtering (ServiceProviderConfig filter.supported: "
            "false), and apply looks users up by a filter on externalId; set "
            "target.lookup: userName (if the service filters on userName) or "
            "target.lookup: pages (read every page and match)",
        )
    ]
