"""Apply's one write for a ``grants`` action: ``bulkremove``, ``bulkadd``, read back.

Both calls are idempotent, so a retry after a lost reply is safe. Removals go first
(a failure halfway leaves less access, never more). The account is then read back
through ``GET /subjects/{id}``: a grant that did not stick fails the operation, so
the next plan shows it again rather than a success being recorded.
"""

from __future__ import annotations

from typing import Any, Protocol

from scimctl.errors import OperationFailed
from scimctl.grants import ALL_DIVISIONS, GrantRef
from scimctl.plan.grants import grant_delta
from scimctl.plan.model import Action
from scimctl.scim.transport import RequestTrace


class GrantWriter(Protocol):
    def change_grants(self, user_id: str, how: str, refs: list[GrantRef], **kw: Any) -> None: ...

    def subject_grants(self, user_id: str, **kw: Any) -> list[dict[str, Any]]: ...


def write_grants(client: GrantWriter, user_id: str, action: Action, count: RequestTrace) -> None:
    removed, added = grant_delta(action)
    client.change_grants(user_id, "remove", removed, trace=count)
    client.change_grants(user_id, "add", added, trace=count)
    held = set()
    for g in client.subject_grants(user_id, trace=count):
        if g.get("subjectId", user_id) != user_id:
            continue  # inherited from a group: not ours to count
        role = (g.get("role") or {}).get("id")
        division = (g.get("division") or {}).get("id")
        held.add((role, ALL_DIVISIONS if division == ALL_DIVISIONS else division))
    missing = [str(r.grant) for r in added if (r.role_id, r.division_id) not in held]
    left = [str(r.grant) for r in removed if (r.role_id, r.division_id) in held]
    if missing or left:
        parts = [f"not granted: {', '.join(missing)}"] if missing else []
        parts += [f"still granted: {', '.join(left)}"] if left else []
        raise OperationFailed(
            f"the grants did not stick ({'; '.join(parts)}); the next plan shows them again"
        )
