"""Genesys Platform calls for division-scoped role grants (docs/genesys.md, Roles and divisions).

Reading: ``GET /api/v2/authorization/roles/{roleId}/subjectgrants`` lists, per role,
every subject holding it with the divisions it holds it in, paged. A plan reads it
once per role the manifest scopes, so the request count grows with managed roles
and pages, never with users. ``GET /api/v2/authorization/subjects/{id}`` reads one
user (apply's read-back after a restore).

Writing: ``POST /subjects/{id}/bulkadd`` and ``/bulkremove`` with
``{grants: [{roleId, divisionId}]}``. Never ``bulkreplace``: it would drop grants
scimctl does not manage. Both are idempotent (adding a held grant or removing an
absent one changes nothing), so a retry after a lost reply is safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scimctl.model import LiveDivision, LiveRole
from scimctl.model.grants import ALL_DIVISIONS, GrantRef
from scimctl.scim.ids import item_path

if TYPE_CHECKING:
    from scimctl.scim.transport import Transport

SUBJECTS = "/api/v2/authorization/subjects"
ROLES = "/api/v2/authorization/roles"
GRANT_PAGE_SIZE = 100


class PlatformGrants:
    """Mixed into :class:`GenesysClient`; uses its transport and Platform paging."""

    transport: Transport

    if TYPE_CHECKING:  # provided by ScimClient

        def _platform_list(
            self, path: str, params: dict[str, str], page_size: int | None = None
        ) -> list[dict[str, Any]]: ...

        def _get(self, path: str, **kw: Any) -> dict[str, Any]: ...

    def read_grants(
        self, roles: list[LiveRole], divisions: tuple[LiveDivision, ...] | None
    ) -> dict[str, tuple[GrantRef, ...]]:
        """Direct grants of ``roles`` per user id, one paged listing per role."""
        names = {d.id: d.name for d in divisions or ()}
        names[ALL_DIVISIONS] = ALL_DIVISIONS
        out: dict[str, list[GrantRef]] = {}
        for role in roles:
            path = f"{item_path(ROLES, role.id)}/subjectgrants"
            for subject in self._platform_list(path, {}, GRANT_PAGE_SIZE):
                if not isinstance(subject, dict) or subject.get("type", "PC_USER") != "PC_USER":
                    continue
                sid = subject.get("id")
                if not isinstance(sid, str):
                    continue
                for d in subject.get("divisions") or []:
                    did = d.get("id") if isinstance(d, dict) else None
                    if not isinstance(did, str):
                        continue
                    name = names.get(did) or str(d.get("name") or did)
                    out.setdefault(sid, []).append(GrantRef(role.name, name, role.id, did))
        return {
            sid: tuple(sorted(set(refs), key=lambda r: (r.role, r.division)))
            for sid, refs in out.items()
        }

    def subject_grants(self, user_id: str, **kw: Any) -> list[dict[str, Any]]:
        """A user's grants as ``GET /subjects/{id}`` lists them (inherited ones too)."""
        path = item_path(SUBJECTS, user_id)
        grants = self._get(path, **kw).get("grants") or []
        return [g for g in grants if isinstance(g, dict)]

    def change_grants(self, user_id: str, how: str, refs: list[GrantRef], **kw: Any) -> None:
        """``bulkadd`` or ``bulkremove`` (``how``: add | remove) for one user."""
        if not refs:
            return
        verb = "bulkadd" if how == "add" else "bulkremove"
        path = f"{item_path(SUBJECTS, user_id)}/{verb}"
        body = {"grants": [{"roleId": r.role_id, "divisionId": r.division_id} for r in refs]}
        self.transport.request("POST", path, json=body, params={"subjectType": "PC_USER"}, **kw)
