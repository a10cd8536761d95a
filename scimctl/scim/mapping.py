"""Between SCIM documents and scimctl's canonical user attributes.

Reads are lenient (a bulk read of the directory must not fail on one odd user);
writes produce exactly the shapes Genesys documents.
"""

from __future__ import annotations

from typing import Any

from scimctl.model import Attrs, LiveGroup, LiveRole, LiveUser
from scimctl.scim.schema import ENTERPRISE_USER, PATCH_OP, USER_SCHEMAS

ENTERPRISE_ATTRS = ("department", "division", "employeeNumber")
CORE_ATTRS = ("userName", "displayName", "active", "title")

# What a bulk read asks for: enough to diff, nothing that costs Genesys secondary calls
# beyond externalId and roles, which the diff needs.
LIST_ATTRIBUTES = ",".join(
    [
        "id",
        "userName",
        "externalId",
        "displayName",
        "active",
        "title",
        "roles",
        "phoneNumbers",
        *(f"{ENTERPRISE_USER}:{a}" for a in ENTERPRISE_ATTRS),
        "meta",
    ]
)


def canonical_phones(phones: Any) -> list[list[str]]:
    out = []
    for p in phones or []:
        if isinstance(p, dict) and p.get("value"):
            out.append([str(p.get("type") or "work"), str(p["value"])])
    return sorted(out)


def canonical_roles(roles: Any) -> list[str]:
    names = (r.get("value") if isinstance(r, dict) else r for r in roles or [])
    return sorted({str(n) for n in names if n})


def user_from_scim(doc: dict[str, Any]) -> LiveUser:
    ent = doc.get(ENTERPRISE_USER) or {}
    attrs: Attrs = {
        "userName": str(doc.get("userName", "")),
        "displayName": doc.get("displayName"),
        "active": bool(doc.get("active", True)),
        "title": doc.get("title"),
        "department": ent.get("department"),
        "division": ent.get("division"),
        "employeeNumber": ent.get("employeeNumber"),
        "phoneNumbers": canonical_phones(doc.get("phoneNumbers")),
        "roles": canonical_roles(doc.get("roles")),
    }
    meta = doc.get("meta") or {}
    return LiveUser(
        id=doc["id"],
        external_id=doc.get("externalId"),
        attrs=attrs,
        version=meta.get("version"),
        modified=meta.get("lastModified"),
    )


def group_from_scim(doc: dict[str, Any]) -> LiveGroup:
    members = frozenset(str(m["value"]) for m in doc.get("members") or [] if m.get("value"))
    version = (doc.get("meta") or {}).get("version")
    return LiveGroup(id=doc["id"], name=doc["displayName"], members=members, version=version)


def role_from_platform(doc: dict[str, Any]) -> LiveRole:
    return LiveRole(id=doc["id"], name=doc["name"], permissions=tuple(doc.get("permissions") or []))


def user_to_scim(attrs: Attrs, external_id: str, password: str | None = None) -> dict[str, Any]:
    """A create body in the shape Genesys staff document (all three schemas)."""
    body: dict[str, Any] = {"schemas": USER_SCHEMAS, "externalId": external_id}
    for name in CORE_ATTRS:
        if attrs.get(name) is not None:
            body[name] = attrs[name]
    if "phoneNumbers" in attrs:
        body["phoneNumbers"] = [{"type": t, "value": v} for t, v in attrs["phoneNumbers"]]
    if "roles" in attrs:
        body["roles"] = [{"value": r} for r in attrs["roles"]]
    ent = {a: attrs[a] for a in ENTERPRISE_ATTRS if attrs.get(a) is not None}
    if ent:
        body[ENTERPRISE_USER] = ent
    if "userName" in attrs:
        body["emails"] = [{"value": attrs["userName"], "type": "other", "primary": True}]
    if password:
        body["password"] = password
    return body


def user_patch(changes: dict[str, Any], external_id: str | None = None) -> dict[str, Any]:
    """A PatchOp that sets each changed attribute to its new value."""
    ops: list[dict[str, Any]] = []
    if external_id is not None:
        ops.append({"op": "replace", "path": "externalId", "value": external_id})
    for name, value in changes.items():
        if name in ENTERPRISE_ATTRS:
            path = f"{ENTERPRISE_USER}:{name}"
        elif name == "phoneNumbers":
            value = [{"type": t, "value": v} for t, v in value or []]
            path = name
        elif name == "roles":
            value = [{"value": r} for r in value or []]
            path = name
        else:
            path = name
        if value is None:
            ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "replace", "path": path, "value": value})
    return {"schemas": [PATCH_OP], "Operations": ops}


def members_patch(add: list[str], remove: list[str]) -> dict[str, Any]:
    """One PatchOp for a group: additions and removals in a single versioned write."""
    ops: list[dict[str, Any]] = []
    if add:
        ops.append({"op": "add", "path": "members", "value": [{"value": i} for i in add]})
    for i in remove:
        ops.append({"op": "remove", "path": f'members[value eq "{i}"]'})
    return {"schemas": [PATCH_OP], "Operations": ops}
