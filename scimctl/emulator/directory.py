"""The emulator's directory: users, groups and roles as Genesys Cloud keeps them.

This module knows nothing of HTTP. It holds SCIM documents, applies PATCH
operations, enforces Genesys's rules (unique userName that stays reserved after a
soft delete, read-only ``groups`` on users, roles by name, per-resource versions)
and raises :class:`ScimError` with the status and ``scimType`` Genesys would send.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from typing import Any

from scimctl.emulator.divisions import Divisions
from scimctl.emulator.lag import SearchIndex
from scimctl.emulator.resource import Resource as Resource  # re-exported for callers
from scimctl.emulator.resource import ScimError as ScimError
from scimctl.emulator.routing import RoutingError, check_user_routing, normalise_hire_date
from scimctl.scim.schema import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    EXTENSIONS,
    GENESYS_USER,
    SCIM_PREFIX,
    USER_SCHEMAS,
)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^(\+[1-9]\d{6,14}|tel:\+[1-9]\d{6,14}(;ext=\d+)?)$")
PHONE_TYPES = {
    "work", "work2", "work3", "work4", "home", "mobile", "other",
    "microsoftteams", "zoomphone", "eightbyeight", "ringcentral",
}  # fmt: skip
FILTER_RE = re.compile(r'^\s*([\w.:$]+)\s+eq\s+(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$', re.IGNORECASE)
PATH_RE = re.compile(r"^([A-Za-z$][\w$]*)(?:\[(.+)\])?(?:\.([A-Za-z$][\w$]*))?$")


def role_id(name: str) -> str:
    """Stable ids, so a seed file gives the same role ids on every start."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"genesys-role:{name}"))


@dataclass
class Role:
    name: str
    permissions: list[str]
    description: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or role_id(self.name)


def parse_filter(text: str) -> tuple[str, str]:
    """Parse the one filter form Genesys documents: ``attr eq value``."""
    m = FILTER_RE.match(text)
    if not m:
        raise ScimError(400, f"Unsupported filter: {text}", "invalidFilter")
    value = m.group(2) if m.group(2) is not None else m.group(3)
    return m.group(1), _unescape(value)


def _unescape(value: str) -> str:
    """RFC 7644 string literal escapes: backslash-quote and double backslash."""
    return re.sub(r"\\(.)", r"\1", value)


def _split_urn(path: str) -> tuple[str | None, str]:
    for urn in (*EXTENSIONS, CORE_USER, CORE_GROUP):
        if path.startswith(urn + ":"):
            return (urn if urn in EXTENSIONS else None), path[len(urn) + 1 :]
    return None, path


def _item_matches(item: Any, flt: tuple[str, str]) -> bool:
    attr, value = flt
    return isinstance(item, dict) and str(item.get(attr, "")).lower() == value.lower()


def apply_patch(doc: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply RFC 7644 PATCH operations to a copy of ``doc`` and return it."""
    doc = copy.deepcopy(doc)
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "PATCH needs a non-empty Operations list", "invalidSyntax")
    for op in operations:
        if not isinstance(op, dict):
            raise ScimError(400, "Each operation must be an object", "invalidSyntax")
        kind = str(op.get("op", "")).lower()
        if kind not in ("add", "replace", "remove"):
            raise ScimError(400, f"Unknown op {op.get('op')!r}", "invalidSyntax")
        path = op.get("path")
        value = op.get("value")
        if not path:
            if kind == "remove":
                raise ScimError(400, "remove needs a path", "noTarget")
            if not isinstance(value, dict):
                raise ScimError(400, "An op without path needs an object value", "invalidValue")
            for key, sub in value.items():
                if key in EXTENSIONS and isinstance(sub, dict):
                    for k, v in sub.items():
                        _patch_path(doc, kind, f"{key}:{k}", v)
                else:
                    _patch_path(doc, kind, key, sub)
        else:
            _patch_path(doc, kind, str(path), value)
    return doc


def _patch_path(doc: dict[str, Any], kind: str, path: str, value: Any) -> None:
    urn, rest = _split_urn(path)
    m = PATH_RE.match(rest)
    if not m:
        raise ScimError(400, f"Invalid path: {path}", "invalidPath")
    name, flt_text, sub = m.groups()
    container = doc.setdefault(urn, {}) if urn else doc
    if name == "groups" and urn is None and "userName" in doc:
        raise ScimError(
            400, "groups is immutable; change membership on the Group resource", "mutability"
        )
    if flt_text is None:
        if sub:
            target = container.setdefault(name, {})
            if kind == "remove":
                target.pop(sub, None)
            else:
                target[sub] = value
        elif kind == "remove":
            if isinstance(value, list) and isinstance(container.get(name), list):
                drop = {str(v.get("value")) for v in value if isinstance(v, dict)}
                container[name] = [i for i in container[name] if str(i.get("value")) not in drop]
            else:
                container.pop(name, None)
        elif kind == "add" and isinstance(container.get(name), list):
            items = value if isinstance(value, list) else [value]
            seen = {str(i.get("value")) for i in container[name] if isinstance(i, dict)}
            for item in items:
                if not (isinstance(item, dict) and str(item.get("value")) in seen):
                    container[name].append(item)
        else:
            container[name] = value
        return
    m2 = FILTER_RE.match(flt_text)
    if not m2:
        raise ScimError(400, f"Invalid filter in path: {path}", "invalidFilter")
    flt = (m2.group(1), m2.group(2) if m2.group(2) is not None else m2.group(3))
    items = container.get(name) or []
    matched = [i for i in items if _item_matches(i, flt)]
    if kind == "remove":
        if sub:
            for i in matched:
                i.pop(sub, None)
        else:
            container[name] = [i for i in items if i not in matched]
        return
    if not matched:
        new = {flt[0]: flt[1]}
        if sub:
            new[sub] = value
        elif isinstance(value, dict):
            new.update(value)
        container[name] = [*items, new]
        return
    for i in matched:
        if sub:
            i[sub] = value
        elif isinstance(value, dict):
            i.clear()
            i.update(value)


def genesys_emails(sent: Any, user_name: str) -> list[dict[str, Any]]:
    """``emails`` as Genesys keeps them: stored as sent, under its two documented rules
    (docs/genesys.md, Emails and phone numbers): ``type: other`` is the userName and read-only, so
    whatever a write says of it, the entry is the userName's (a rename moves it, a
    write without it keeps it); ``type: work`` entries are separate and kept as sent.
    Any other type is refused."""
    if sent is not None and not isinstance(sent, list):
        raise ScimError(400, "emails must be a list", "invalidValue")
    work = []
    for e in sent or []:
        if not isinstance(e, dict) or e.get("type") not in ("work", "other"):
            raise ScimError(400, f"Invalid email: {e}", "invalidValue")
        if e["type"] == "work":
            work.append(e)
    return [{"value": user_name, "type": "other", "primary": True}, *work]


def genesys_phones(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``phoneNumbers`` as Genesys keeps them: one number per type, each type being one
    slot of the profile (docs/genesys.md). Of two numbers sent with one type, the later
    fills the slot (an assumption: Genesys documents the slots, not which one wins)."""
    slots: dict[str, dict[str, Any]] = {}
    for phone in sent:
        slots.pop(phone["type"], None)
        slots[phone["type"]] = phone
    return list(slots.values())


class Directory:
    """In-memory Genesys Cloud org: the single source of truth of the emulator."""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url
        # Genesys answers a stale If-Match with 400 invalidVers; RFC 7644 3.14 with 412.
        self.conflict_status = 400
        self.users: dict[str, Resource] = {}
        self.groups: dict[str, Resource] = {}
        self.roles: dict[str, Role] = {}
        self.skills: set[str] = set()  # routing skill names (case-sensitive)
        self.languages: set[str] = set()  # routing language names
        self._by_username: dict[str, str] = {}
        self._member_of: dict[str, set[str]] = {}
        # Listings page through the same filtered list many times; keep it until a
        # user changes.
        self._changes = 0
        self._listed: dict[str | None, tuple[int, list[Resource]]] = {}
        self.divisions = Divisions()
        from scimctl.emulator.grants import Grants

        # Role grants by division (Platform API); SCIM roles are kept consistent with them.
        self.grants = Grants(self)
        # Fidelity options (see docs/emulator.md); the Emulator sets them from its config.
        self.default_role: str | None = None
        self.default_role_mode = "empty"  # empty | always
        self.search: SearchIndex | None = None

    def enable_search_lag(self, lag: float) -> None:
        """Listings and filters see writes ``lag`` seconds late; what exists now is seen."""
        self.search = SearchIndex(lag)
        self.search.prime([*self.users.values(), *self.groups.values()])

    def _indexed(self, res: Resource) -> None:
        if self.search is not None:
            self.search.record(res)

    # -- roles ---------------------------------------------------------------
    def add_role(self, name: str, permissions: list[str], description: str = "") -> Role:
        role = Role(name=name, permissions=list(permissions), description=description)
        self.roles[role.id] = role
        return role

    def role_names(self) -> set[str]:
        return {r.name for r in self.roles.values()}

    # -- users ---------------------------------------------------------------
    def _clean_user(
        self, body: dict[str, Any], current_id: str | None, current: Resource | None = None
    ) -> dict[str, Any]:
        doc = {
            k: copy.deepcopy(v)
            for k, v in body.items()
            if k not in ("id", "meta", "schemas", "groups", "password")
        }
        user_name = doc.get("userName")
        if not isinstance(user_name, str) or not user_name:
            raise ScimError(400, "userName is required", "invalidValue")
        if not EMAIL_RE.match(user_name):
            raise ScimError(400, f"userName must be an email address: {user_name}", "invalidValue")
        if not isinstance(doc.get("displayName"), str) or not doc["displayName"].strip():
            raise ScimError(400, "displayName is required", "invalidValue")
        holder = self._by_username.get(user_name.lower())
        if holder is not None and holder != current_id:
            raise ScimError(409, f"userName {user_name} is already taken", "uniqueness")
        doc["active"] = bool(doc.get("active", True))
        roles = doc.get("roles") or []
        if not isinstance(roles, list):
            raise ScimError(400, "roles must be a list", "invalidValue")
        known = self.role_names()
        for r in roles:
            name = r.get("value") if isinstance(r, dict) else None
            if name not in known:
                raise ScimError(400, f"Role {name!r} does not exist", "invalidValue")
        doc["roles"] = self._with_default_role([{"value": r["value"]} for r in roles], current)
        for p in doc.get("phoneNumbers") or []:
            if not isinstance(p, dict) or not PHONE_RE.match(str(p.get("value", ""))):
                raise ScimError(400, f"Invalid phone number: {p}", "invalidValue")
            if p.get("type") not in PHONE_TYPES:
                raise ScimError(400, f"Invalid phone number type: {p.get('type')}", "invalidValue")
        if doc.get("phoneNumbers"):
            doc["phoneNumbers"] = genesys_phones(doc["phoneNumbers"])
        doc["emails"] = genesys_emails(doc.get("emails"), user_name)
        manager = (doc.get(ENTERPRISE_USER) or {}).get("manager")
        if manager:
            mid = manager.get("value") if isinstance(manager, dict) else None
            if mid not in self.users or self.users[mid].deleted:
                raise ScimError(400, f"Manager {mid} does not exist", "invalidValue")
        for urn in EXTENSIONS:
            if urn in doc and not isinstance(doc[urn], dict):
                raise ScimError(400, f"{urn} must be an object", "invalidValue")
        self._check_division(doc, current)
        ext = doc.get(GENESYS_USER) or {}
        for key in ("routingSkills", "routingLanguages"):
            if len(ext.get(key) or []) > 50:
                raise ScimError(400, f"At most 50 {key}", "invalidValue")
        try:
            check_user_routing(doc, self.skills, self.languages)
            normalise_hire_date(doc)
        except RoutingError as exc:
            raise ScimError(400, str(exc), "invalidValue") from None
        return doc

    def _with_default_role(
        self, roles: list[dict[str, Any]], current: Resource | None
    ) -> list[dict[str, Any]]:
        """Genesys gives a SCIM-created user without roles the Employee role (docs/genesys.md,
        Roles and divisions). Whether a later roles write can take it away is not
        confirmed (docs/genesys.md, last section), so ``default_role_mode`` chooses:
        ``empty`` grants it only to a create without roles and lets a write remove it;
        ``always`` grants it on every create and keeps it through every write."""
        name = self.default_role
        if not name or name not in self.role_names():
            return roles
        has = any(r["value"] == name for r in roles)
        if has:
            return roles
        if current is None:
            if not roles or self.default_role_mode == "always":
                return [*roles, {"value": name}]
            return roles
        had = any(r.get("value") == name for r in current.doc.get("roles") or [])
        if had and self.default_role_mode == "always":
            return [*roles, {"value": name}]
        return roles

    def _check_division(self, doc: dict[str, Any], current: Resource | None) -> None:
        """A division is named, must exist, and must be one the client may write to;
        a user created without one lands in Home, as on Genesys."""
        if current is not None:
            self.divisions.check_writable((current.doc.get(ENTERPRISE_USER) or {}).get("division"))
        ent = doc.get(ENTERPRISE_USER)
        if ent is not None and not isinstance(ent, dict):
            return  # reported as a bad extension below
        division = (ent or {}).get("division")
        if division is None:
            if current is None:
                self.divisions.check_writable(None)
                doc[ENTERPRISE_USER] = {**(ent or {}), "division": "Home"}
            return
        self.divisions.check(division)

    def create_user(self, body: dict[str, Any]) -> Resource:
        doc = self._clean_user(body, None)
        res = Resource(id=str(uuid.uuid4()), doc=doc)
        self.users[res.id] = res
        self.grants.sync_from_roles(res)
        self._changes += 1
        self._by_username[doc["userName"].lower()] = res.id
        self._indexed(res)
        return res

    def get_user(self, user_id: str) -> Resource:
        res = self.users.get(user_id)
        if res is None or res.deleted:
            raise ScimError(404, f"User {user_id} not found")
        return res

    def replace_user(self, user_id: str, body: dict[str, Any], if_match: str | None) -> Resource:
        res = self.get_user(user_id)
        self.check_version(res, if_match)
        self._store_user(res, self._clean_user(body, res.id, res))
        return res

    def patch_user(self, user_id: str, ops: list[dict[str, Any]], if_match: str | None) -> Resource:
        res = self.get_user(user_id)
        self.check_version(res, if_match)
        current = self.user_doc(res)
        self._store_user(res, self._clean_user(apply_patch(current, ops), res.id, res))
        return res

    def _store_user(self, res: Resource, doc: dict[str, Any]) -> None:
        old = res.doc["userName"].lower()
        if old != doc["userName"].lower():
            del self._by_username[old]
            self._by_username[doc["userName"].lower()] = res.id
        if doc != res.doc:
            res.doc = doc
            res.touch()
            self._changes += 1
            self._indexed(res)
        self.grants.sync_from_roles(res)

    def set_roles_from_grants(self, res: Resource) -> None:
        """After a grants write: SCIM ``roles`` are the roles held in any division."""
        self._store_user(res, {**res.doc, "roles": self.grants.roles_of(res.id)})

    def delete_user(self, user_id: str, if_match: str | None) -> None:
        """Soft delete: hidden everywhere, but the userName stays reserved."""
        res = self.get_user(user_id)
        self.check_version(res, if_match)
        self.divisions.check_writable((res.doc.get(ENTERPRISE_USER) or {}).get("division"))
        res.deleted = True
        res.touch()
        self._changes += 1
        self._indexed(res)
        self.grants.drop(user_id)  # a deleted account loses its grants, as on Genesys
        for gid in sorted(self._member_of.pop(user_id, set())):
            group = self.groups[gid]
            self._set_group_doc(
                group,
                {
                    **group.doc,
                    "members": [m for m in group.doc["members"] if m["value"] != user_id],
                },
            )

    def set_state(self, res: Resource, state: str) -> None:
        """Platform state change; restoring a deleted user brings it back without roles,
        grants or memberships, in the Home division (Genesys help, "Delete someone from
        your organization")."""
        doc = dict(res.doc)
        if res.deleted:
            res.deleted = False
            doc["roles"] = []
            doc[ENTERPRISE_USER] = {**(doc.get(ENTERPRISE_USER) or {}), "division": "Home"}
        doc["active"] = state == "active"
        res.doc = doc
        res.touch()
        self._changes += 1
        self.grants.sync_from_roles(res)

    def visible_users(self) -> list[Resource]:
        return [u for u in self.users.values() if not u.deleted]

    def find_users(self, flt: str | None) -> list[Resource]:
        """Genesys semantics: no filter lists active users only."""
        if self.search is not None:  # what the lagging index shows; not cached
            seen = self.search.view(self.users)
            return self._find_users(flt, [u for u in seen if not u.deleted])
        cached = self._listed.get(flt)
        if cached is not None and cached[0] == self._changes:
            return cached[1]
        found = self._find_users(flt)
        if flt is None or len(found) > 100:  # a listing, not a lookup
            self._listed[flt] = (self._changes, found)
        return found

    def _find_users(self, flt: str | None, users: list[Resource] | None = None) -> list[Resource]:
        users = self.visible_users() if users is None else users
        if not flt:
            return [u for u in users if u.doc.get("active", True)]
        attr, value = parse_filter(flt)
        key = attr.lower()
        if key == "id":
            return [u for u in users if u.id == value]
        if key == "username":
            return [u for u in users if u.doc["userName"].lower() == value.lower()]
        if key == "externalid":
            return [u for u in users if u.doc.get("externalId") == value]
        if key in ("email", "emails", "emails.value"):
            v = value.lower()
            return [
                u
                for u in users
                if u.doc["userName"].lower() == v
                or any(str(e.get("value", "")).lower() == v for e in u.doc.get("emails", []))
            ]
        if key == "active":
            want = value.lower() == "true"
            return [u for u in users if bool(u.doc.get("active", True)) == want]
        raise ScimError(400, f"Filtering on {attr} is not supported", "invalidFilter")

    def user_doc(self, res: Resource) -> dict[str, Any]:
        """The full SCIM representation Genesys returns for a user.

        A shallow copy: callers serialise it or hand it to :func:`apply_patch`, which
        copies deeply before it changes anything.
        """
        doc = dict(res.doc)
        groups = [
            {
                "value": g.id,
                "display": g.doc["displayName"],
                "$ref": f"{self.base_url}{SCIM_PREFIX}/groups/{g.id}",
            }
            for g in (self.groups[gid] for gid in sorted(self._member_of.get(res.id, ())))
        ]
        ext = doc[GENESYS_USER] = dict(doc.get(GENESYS_USER) or {})
        ext["externalIds"] = [
            {"authority": "x-pc:scimv2:v1:pure-cloud-scim", "value": res.id},
            *[i for i in ext.get("externalIds") or [] if not i["authority"].startswith("x-pc:")],
        ]
        return {
            "schemas": USER_SCHEMAS,
            "id": res.id,
            **doc,
            "groups": groups,
            "meta": self.meta(res, "User", "users"),
        }

    # -- groups --------------------------------------------------------------
    def add_group(self, name: str) -> Resource:
        res = Resource(id=str(uuid.uuid4()), doc={"displayName": name, "members": []})
        self.groups[res.id] = res
        self._indexed(res)
        return res

    def get_group(self, group_id: str) -> Resource:
        res = self.groups.get(group_id)
        if res is None:
            raise ScimError(404, f"Group {group_id} not found")
        return res

    def _clean_group(self, doc: dict[str, Any], current: Resource) -> dict[str, Any]:
        if doc.get("displayName") != current.doc["displayName"]:
            raise ScimError(400, "displayName of a group cannot be changed here", "mutability")
        members = []
        seen = set()
        for m in doc.get("members") or []:
            mid = m.get("value") if isinstance(m, dict) else None
            if mid not in self.users or self.users[mid].deleted:
                raise ScimError(400, f"Member {mid} is not an existing user", "invalidValue")
            if mid not in seen:
                seen.add(mid)
                members.append({"value": mid})
        out = {"displayName": doc["displayName"], "members": members}
        if doc.get("externalId"):
            out["externalId"] = doc["externalId"]
        return out

    def patch_group(
        self, group_id: str, ops: list[dict[str, Any]], if_match: str | None
    ) -> Resource:
        res = self.get_group(group_id)
        self.check_version(res, if_match)
        for op in ops:
            if str(op.get("op", "")).lower() == "remove" and not op.get("path"):
                raise ScimError(
                    400, 'remove needs a path such as members[value eq "ID"]', "noTarget"
                )
        self._set_group_doc(res, self._clean_group(apply_patch(res.doc, ops), res))
        return res

    def replace_group(self, group_id: str, body: dict[str, Any], if_match: str | None) -> Resource:
        res = self.get_group(group_id)
        self.check_version(res, if_match)
        self._set_group_doc(res, self._clean_group(body, res))
        return res

    def _set_group_doc(self, res: Resource, doc: dict[str, Any]) -> None:
        if doc == res.doc:
            return
        for m in res.doc.get("members", []):
            self._member_of.get(m["value"], set()).discard(res.id)
        for m in doc.get("members", []):
            self._member_of.setdefault(m["value"], set()).add(res.id)
        res.doc = doc
        res.touch()
        self._indexed(res)

    def find_groups(self, flt: str | None) -> list[Resource]:
        if self.search is not None:
            groups = self.search.view(self.groups)
        else:
            groups = list(self.groups.values())
        if not flt:
            return groups
        attr, value = parse_filter(flt)
        if attr.lower() == "displayname":
            return [g for g in groups if g.doc["displayName"].lower() == value.lower()]
        if attr.lower() == "id":
            return [g for g in groups if g.id == value]
        raise ScimError(400, f"Filtering groups on {attr} is not supported", "invalidFilter")

    def group_doc(self, res: Resource) -> dict[str, Any]:
        members = [
            {
                "value": m["value"],
                "display": self.users[m["value"]].doc.get("displayName"),
                "type": "User",
                "$ref": f"{self.base_url}{SCIM_PREFIX}/users/{m['value']}",
            }
            for m in res.doc.get("members", [])
        ]
        return {
            "schemas": [CORE_GROUP],
            "id": res.id,
            **res.doc,
            "members": members,
            "meta": self.meta(res, "Group", "groups"),
        }

    # -- versions ------------------------------------------------------------
    def meta(self, res: Resource, kind: str, path: str) -> dict[str, Any]:
        return {
            "resourceType": kind,
            "created": res.created,
            "lastModified": res.modified,
            "location": f"{self.base_url}{SCIM_PREFIX}/{path}/{res.id}",
            "version": etag(res),
        }

    def check_version(self, res: Resource, if_match: str | None) -> None:
        """Genesys answers a stale If-Match with 400 invalidVers, not RFC 7232's 412."""
        if if_match is None or if_match.strip() == "*":
            return
        wanted = {normalize_etag(v) for v in if_match.split(",")}
        if str(res.version) not in wanted:
            detail = (
                f"The version supplied ({if_match}) does not match the current version "
                f"({etag(res)})"
            )
            if self.conflict_status == 412:
                raise ScimError(412, detail)
            raise ScimError(400, detail, "invalidVers")


def etag(res: Resource) -> str:
    return f'"{res.version}"'


def normalize_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')
