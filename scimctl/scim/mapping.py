"""Between SCIM documents and scimctl's canonical user attributes.

Reads are lenient (a bulk read of the directory must not fail on one odd user);
writes produce exactly the shapes Genesys documents.
"""

from __future__ import annotations

from typing import Any

from scimctl.model import Attrs, LiveGroup, LiveRole, LiveUser
from scimctl.scim.entries import PER_ENTRY, entry_ops, literal, rename_ops
from scimctl.scim.ids import check_id, kind, shown
from scimctl.scim.schema import CORE_USER, ENTERPRISE_USER, GENESYS_USER, PATCH_OP

ENTERPRISE_ATTRS = ("department", "division", "employeeNumber", "dateHire")
GENESYS_ATTRS = ("routingSkills", "routingLanguages")
CORE_ATTRS = ("userName", "displayName", "active", "title")

CORE_LIST = ("id", "userName", "externalId", "displayName", "active", "title", "roles")


def list_attributes(enterprise: bool = True, genesys: bool = True) -> str:
    """What a bulk read asks for: enough to diff, nothing that costs Genesys secondary
    calls beyond externalId and roles, which the diff needs. A server without an
    extension may refuse attribute names of it, so those are asked for only where
    it exists."""
    ent = [f"{ENTERPRISE_USER}:{a}" for a in (*ENTERPRISE_ATTRS, "manager")] if enterprise else []
    gen = [f"{GENESYS_USER}:{a}" for a in GENESYS_ATTRS] if genesys else []
    return ",".join([*CORE_LIST, "phoneNumbers", "emails", *ent, *gen, "meta"])


LIST_ATTRIBUTES = list_attributes()


def canonical_phones(phones: Any) -> list[list[str]]:
    out = []
    for p in phones or []:
        if isinstance(p, dict) and p.get("value"):
            out.append([str(p.get("type") or "work"), str(p["value"])])
    return sorted(out)


def canonical_proficiencies(items: Any) -> list[list[Any]]:
    """Skills or languages as sorted ``[name, proficiency]`` pairs (proficiency a float)."""
    out = []
    for item in items or []:
        if isinstance(item, dict) and item.get("name"):
            try:
                level = float(item.get("proficiency") or 0)
            except (TypeError, ValueError):
                level = 0.0
            out.append([str(item["name"]), level])
    return sorted(out)


def work_email(emails: Any) -> str | None:
    """``emails[type=work]``; ``type=other`` is the userName and is not this."""
    for e in emails or []:
        if isinstance(e, dict) and e.get("type") == "work" and e.get("value"):
            return str(e["value"])
    return None


def manager_id(ent: dict[str, Any]) -> str | None:
    manager = ent.get("manager")
    if isinstance(manager, dict) and manager.get("value"):
        return str(manager["value"])
    return None


def canonical_roles(roles: Any) -> list[str]:
    names = (r.get("value") if isinstance(r, dict) else r for r in roles or [])
    return sorted({str(n) for n in names if n})


MAX_NAME_LENGTH = 1024  # userName, displayName of a group, role name: none is longer


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is {kind(value)}, not an object")
    return value


def _text(value: Any, what: str, optional: bool = False) -> str | None:
    """A string field of an answer, checked: right type, sane length."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is {kind(value)}, not a string")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} is {len(value)} characters long")
    return value


def _version(doc: dict[str, Any], what: str) -> str | None:
    meta = doc.get("meta")
    if meta is None:
        return None
    return _text(_obj(meta, f"{what}: meta").get("version"), f"{what}: meta.version", True)


def user_from_scim(doc: dict[str, Any]) -> LiveUser:
    _obj(doc, "a user")
    name = doc.get("userName")
    what = _called("user", name, doc)
    _text(name, f"{what}: userName")
    user_id = check_id(doc.get("id"), what)
    # django-scim2 answers externalId "" for an account that has none: not a key.
    external_id = _text(doc.get("externalId"), f"{what}: externalId", True) or None
    version = _version(doc, what)
    ent = doc.get(ENTERPRISE_USER) or {}
    ext = doc.get(GENESYS_USER) or {}
    attrs: Attrs = {
        "userName": name,
        "displayName": doc.get("displayName"),
        "active": bool(doc.get("active", True)),
        "title": doc.get("title"),
        "department": ent.get("department"),
        "division": ent.get("division"),
        "employeeNumber": ent.get("employeeNumber"),
        "workEmail": work_email(doc.get("emails")),
        # Genesys returns the date part of dateHire; keep exactly YYYY-MM-DD.
        "dateHire": str(ent["dateHire"])[:10] if ent.get("dateHire") else None,
        # The manager's live id; the plan compares it through the manager's externalId.
        "manager": manager_id(ent),
        "phoneNumbers": canonical_phones(doc.get("phoneNumbers")),
        "routingSkills": canonical_proficiencies(ext.get("routingSkills")),
        "routingLanguages": canonical_proficiencies(ext.get("routingLanguages")),
        "roles": canonical_roles(doc.get("roles")),
    }
    meta = doc.get("meta") or {}
    return LiveUser(
        id=user_id,
        external_id=external_id,
        attrs=attrs,
        version=version,
        modified=meta.get("lastModified"),
    )


def _called(noun: str, name: Any, doc: dict[str, Any]) -> str:
    """How an error names a record: by its name, or by its id when the name is no text."""
    return f"{noun} {shown(name if isinstance(name, str) else doc.get('id'))}"


def group_from_scim(doc: dict[str, Any]) -> LiveGroup:
    _obj(doc, "a group")
    name = doc.get("displayName")
    what = _called("group", name, doc)
    group_id = check_id(doc.get("id"), what)
    _text(name, f"{what}: displayName")
    listed = doc.get("members") or []
    if not isinstance(listed, list):
        raise ValueError(f"{what}: members is {kind(listed)}, not a list")
    members = frozenset(
        check_id(m["value"], f"{what}: a member")
        for m in listed
        if _obj(m, f"{what}: a member").get("value")
    )
    version = _version(doc, what)
    return LiveGroup(id=group_id, name=str(name), members=members, version=version)


def role_from_platform(doc: dict[str, Any]) -> LiveRole:
    _obj(doc, "a role")
    name = doc.get("name")
    what = _called("role", name, doc)
    role_id = check_id(doc.get("id"), what)
    _text(name, f"{what}: name")
    permissions = doc.get("permissions") or []
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise ValueError(f"{what}: permissions is not a list of strings")
    return LiveRole(id=role_id, name=str(name), permissions=tuple(permissions))


def _proficiencies(pairs: Any) -> list[dict[str, Any]]:
    return [{"name": n, "proficiency": p} for n, p in pairs or []]


def user_to_scim(attrs: Attrs, external_id: str, password: str | None = None) -> dict[str, Any]:
    """A create (or PUT) body.

    ``schemas`` lists only the URNs whose attributes are present: RFC 7643 3 lets a
    server refuse an extension it does not know, even with no attributes of it.
    ``attrs["manager"]`` must already be the manager's live id (apply resolves the
    key after the manager exists).
    """
    body: dict[str, Any] = {"schemas": [CORE_USER], "externalId": external_id}
    for name in CORE_ATTRS:
        if attrs.get(name) is not None:
            body[name] = attrs[name]
    if "phoneNumbers" in attrs:
        body["phoneNumbers"] = [{"type": t, "value": v} for t, v in attrs["phoneNumbers"]]
    if "roles" in attrs:
        body["roles"] = [{"value": r} for r in attrs["roles"]]
    ent = {a: attrs[a] for a in ENTERPRISE_ATTRS if attrs.get(a) is not None}
    if attrs.get("manager"):
        ent["manager"] = {"value": attrs["manager"]}
    if ent:
        body["schemas"].append(ENTERPRISE_USER)
        body[ENTERPRISE_USER] = ent
    ext = {a: _proficiencies(attrs[a]) for a in GENESYS_ATTRS if attrs.get(a) is not None}
    if ext:
        body["schemas"].append(GENESYS_USER)
        body[GENESYS_USER] = ext
    if "userName" in attrs:
        body["emails"] = [{"value": attrs["userName"], "type": "other", "primary": True}]
    if attrs.get("workEmail"):
        body.setdefault("emails", []).append({"value": attrs["workEmail"], "type": "work"})
    if password:
        body["password"] = password
    return body


def user_patch(
    changes: dict[str, Any],
    external_id: str | None = None,
    *,
    before: dict[str, Any] | None = None,
    per_entry: bool = False,
) -> dict[str, Any]:
    """A PatchOp that sets each changed attribute to its new value.

    With ``per_entry`` (services other than Genesys, which take RFC 7644 value
    filters), emails and phone numbers are changed entry by entry from ``before``
    and a rename moves the main email along (scim/entries.py); without it they are
    written as Genesys documents them.
    """
    ops: list[dict[str, Any]] = []
    if external_id is not None:
        ops.append({"op": "replace", "path": "externalId", "value": external_id})
    before = before or {}
    for name, value in changes.items():
        if per_entry and name in PER_ENTRY:
            ops += entry_ops(name, before.get(name), value)
            continue
        if per_entry and name == "userName" and value:
            ops.append({"op": "replace", "path": "userName", "value": value})
            ops += rename_ops(before.get("userName"), value)
            continue
        if name in ENTERPRISE_ATTRS:
            path = f"{ENTERPRISE_USER}:{name}"
        elif name == "manager":
            path = f"{ENTERPRISE_USER}:manager"
            value = {"value": value} if value else None
        elif name in GENESYS_ATTRS:
            path = f"{GENESYS_USER}:{name}"
            value = _proficiencies(value) if value is not None else None
        elif name == "workEmail":
            # type=other is the userName and read-only; only the work entry is ours.
            path = "emails"
            value = [{"value": value, "type": "work"}] if value else []
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


def members_patch(add: list[str], remove: list[str], removal: str = "filter") -> dict[str, Any]:
    """One PatchOp for a group's members.

    Removals use RFC 7644's filter path (``members[value eq "…"]``) unless ``removal``
    is ``"value"``: ``{"op": "remove", "path": "members", "value": [...]}``, the form
    services such as django-scim2 accept instead. On a strict RFC service that form
    would remove every member, so it is only sent where the filter form was refused.
    """
    ops: list[dict[str, Any]] = []
    if add:
        ops.append({"op": "add", "path": "members", "value": [{"value": i} for i in add]})
    if remove and removal == "value":
        ops.append({"op": "remove", "path": "members", "value": [{"value": i} for i in remove]})
    elif remove:
        ops += [{"op": "remove", "path": f"members[value eq {literal(i)}]"} for i in remove]
    return {"schemas": [PATCH_OP], "Operations": ops}
