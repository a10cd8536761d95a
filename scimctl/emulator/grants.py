"""Role grants by division, as the Genesys Platform API keeps them.

A grant is (role, division) held by a subject: a user, or a group whose members
inherit it (docs/genesys.md, Groups and membership; Roles and divisions). The
emulator keeps the grants as the truth and keeps SCIM ``roles`` consistent with them
both ways:

* a SCIM write that names a role the user holds in no division grants it in the
  user's own division (where SCIM grants a role is not documented: docs/genesys.md,
  last section; this is the choice), and one that leaves a role out removes every
  direct grant of it;
* ``bulkadd`` / ``bulkremove`` change grants, and the user's SCIM ``roles`` become
  the roles it holds directly in any division (a user write: version and
  lastModified move).

Grants inherited from a group are listed by ``GET /subjects/{id}`` with the group as
``subjectId`` and cannot be removed on the user (400; remove them on the group). A
deleted account loses its grants, as on Genesys, and a restored one comes back with
none. Unknown roles and divisions are refused with 400, as Genesys refuses them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scimctl.emulator.divisions import HOME, division_id
from scimctl.scim.schema import ENTERPRISE_USER

if TYPE_CHECKING:
    from scimctl.emulator.directory import Directory, Resource

ALL = "*"
SUBJECT_TYPES = ("PC_USER", "PC_GROUP")
Pair = tuple[str, str]  # (role id, division id)


def _error(status: int, message: str, code: str) -> Response:
    return JSONResponse({"message": message, "code": code, "status": status}, status_code=status)


class GrantError(Exception):
    def __init__(self, status: int, message: str, code: str = "bad.request") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class Grants:
    """Direct grants per subject id (user or group)."""

    def __init__(self, directory: Directory) -> None:
        self.d = directory
        self.direct: dict[str, set[Pair]] = {}
        self.made_at: dict[tuple[str, Pair], str] = {}
        # Listings page through the same role many times: keep it until anything changes.
        self._listed: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        self.revision = 0  # moves on every change of any subject's grants

    # -- SCIM roles <-> grants -------------------------------------------------
    def _role_ids(self) -> dict[str, str]:
        return {r.name: r.id for r in self.d.roles.values()}

    def _home_of(self, res: Resource) -> str:
        name = (res.doc.get(ENTERPRISE_USER) or {}).get("division") or HOME
        return division_id(name)

    def sync_from_roles(self, res: Resource) -> None:
        """After a SCIM write: the grants follow the ``roles`` it left on the user."""
        ids = self._role_ids()
        wanted = {ids[r["value"]] for r in res.doc.get("roles") or [] if r.get("value") in ids}
        held = self.direct.get(res.id, set())
        keep = {p for p in held if p[0] in wanted}
        have = {p[0] for p in keep}
        home = self._home_of(res)
        for rid in sorted(wanted - have):
            keep.add((rid, home))
            self.made_at[(res.id, (rid, home))] = _now()
        if keep != held:
            self.direct[res.id] = keep
            self.revision += 1

    def roles_of(self, user_id: str) -> list[dict[str, str]]:
        names = {
            self.d.roles[rid].name for rid, _ in self.direct.get(user_id, ()) if rid in self.d.roles
        }
        return [{"value": n} for n in sorted(names)]

    def drop(self, subject_id: str) -> None:
        if self.direct.pop(subject_id, None):
            self.revision += 1

    # -- reads -------------------------------------------------------------------
    def inherited(self, user_id: str) -> list[tuple[str, Pair]]:
        out = []
        for gid in sorted(self.d._member_of.get(user_id, ())):
            out += [(gid, p) for p in sorted(self.direct.get(gid, ()))]
        return out

    def _division_doc(self, did: str) -> dict[str, Any]:
        if did == ALL:
            return {"id": ALL, "name": ALL}
        for d in self.d.divisions.by_name.values():
            if d.id == did:
                return {
                    "id": d.id,
                    "name": d.name,
                    "selfUri": f"/api/v2/authorization/divisions/{d.id}",
                }
        return {"id": did}

    def _grant_doc(self, subject_id: str, pair: Pair) -> dict[str, Any]:
        role = self.d.roles.get(pair[0])
        return {
            "subjectId": subject_id,
            "role": {"id": pair[0], "name": role.name if role else None},
            "division": self._division_doc(pair[1]),
            "grantMadeAt": self.made_at.get((subject_id, pair), _now()),
        }

    def subject_doc(self, subject_id: str) -> dict[str, Any]:
        """``AuthzSubject``: direct grants, and for a user those inherited from groups."""
        user = self.d.users.get(subject_id)
        if user is not None and not user.deleted:
            name = user.doc.get("displayName")
            grants = [
                self._grant_doc(subject_id, p) for p in sorted(self.direct.get(subject_id, ()))
            ]
            grants += [self._grant_doc(gid, p) for gid, p in self.inherited(subject_id)]
            version = user.version
        elif subject_id in self.d.groups:
            group = self.d.groups[subject_id]
            name = group.doc["displayName"]
            grants = [
                self._grant_doc(subject_id, p) for p in sorted(self.direct.get(subject_id, ()))
            ]
            version = group.version
        else:
            raise GrantError(404, f"subject {subject_id} not found", "not.found")
        return {
            "id": subject_id,
            "name": name,
            "grants": grants,
            "version": version,
            "selfUri": f"/api/v2/authorization/subjects/{subject_id}",
        }

    def role_subjects(self, role_id: str) -> list[dict[str, Any]]:
        """``SubjectDivisionGrants`` of one role: each subject and its divisions."""
        stamp = self.revision
        cached = self._listed.get(role_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        out = self._role_subjects(role_id)
        self._listed[role_id] = (stamp, out)
        return out

    def _role_subjects(self, role_id: str) -> list[dict[str, Any]]:
        out = []
        for sid in sorted(self.direct):
            divisions = sorted(d for r, d in self.direct[sid] if r == role_id)
            if not divisions:
                continue
            user = self.d.users.get(sid)
            if user is not None:
                if user.deleted:
                    continue
                kind, name = "PC_USER", user.doc.get("displayName")
            elif sid in self.d.groups:
                kind, name = "PC_GROUP", self.d.groups[sid].doc["displayName"]
            else:
                continue
            out.append(
                {
                    "id": sid,
                    "name": name,
                    "type": kind,
                    "divisions": [self._division_doc(d) for d in divisions],
                }
            )
        return out

    # -- writes --------------------------------------------------------------------
    def _pairs(self, body: Any) -> list[Pair]:
        grants = body.get("grants") if isinstance(body, dict) else None
        if not isinstance(grants, list) or not grants:
            raise GrantError(400, "grants must be a non-empty list of {roleId, divisionId}")
        divisions = {d.id: d for d in self.d.divisions.by_name.values()}
        out = []
        for g in grants:
            rid = g.get("roleId") if isinstance(g, dict) else None
            did = g.get("divisionId") if isinstance(g, dict) else None
            if not isinstance(rid, str) or rid not in self.d.roles:
                raise GrantError(
                    400, f"role {rid!r} does not exist in this organization", "invalid.value"
                )
            if did != ALL and (not isinstance(did, str) or did not in divisions):
                raise GrantError(
                    400, f"division {did!r} does not exist in this organization", "invalid.value"
                )
            out.append((rid, did))
        return out

    def _subject(self, subject_id: str, subject_type: str) -> Resource | None:
        """The user (None for a group) whose grants change; refuses unknown subjects."""
        if subject_type not in SUBJECT_TYPES:
            raise GrantError(400, f"subjectType must be one of {', '.join(SUBJECT_TYPES)}")
        if subject_type == "PC_GROUP":
            if subject_id not in self.d.groups:
                raise GrantError(404, f"group {subject_id} not found", "not.found")
            return None
        user = self.d.users.get(subject_id)
        if user is None or user.deleted:
            raise GrantError(404, f"user {subject_id} not found", "not.found")
        return user

    def change(self, subject_id: str, subject_type: str, body: Any, how: str) -> None:
        user = self._subject(subject_id, subject_type)
        pairs = self._pairs(body)
        self.revision += 1
        held = self.direct.setdefault(subject_id, set())
        if how == "remove":
            inherited = {p: gid for gid, p in self.inherited(subject_id)} if user else {}
            for p in pairs:
                if p not in held and p in inherited:
                    role = self.d.roles[p[0]].name
                    raise GrantError(
                        400,
                        f"the grant of {role!r} is inherited from group {inherited[p]}; "
                        "remove it from the group",
                    )
            held.difference_update(pairs)
        else:
            if how == "replace":
                held.clear()  # direct grants only: inherited ones stay
            for p in pairs:
                if p not in held:
                    held.add(p)
                    self.made_at[(subject_id, p)] = _now()
        if user is not None:
            self.d.set_roles_from_grants(user)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def get_subject(directory: Directory, request: Request) -> Response:
    try:
        return JSONResponse(directory.grants.subject_doc(request.path_params["id"]))
    except GrantError as exc:
        return _error(exc.status, exc.message, exc.code)


def bulk(how: str) -> Any:
    async def handler(directory: Directory, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            return _error(400, "body is not valid JSON", "bad.request")
        subject_type = request.query_params.get("subjectType", "PC_USER")
        try:
            directory.grants.change(request.path_params["id"], subject_type, body, how)
        except GrantError as exc:
            return _error(exc.status, exc.message, exc.code)
        return Response(status_code=204)

    return handler
