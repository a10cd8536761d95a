"""Read models over the state for people: one managed user or group as a record."""

from __future__ import annotations

from typing import Any

from scimctl.state.clock import iso
from scimctl.state.interfaces import ManagedRecords


def managed_record(store: ManagedRecords, workspace: str, key: str) -> dict[str, Any] | None:
    """A managed user (by externalId or userName, any case) or group (by name)."""
    view = store.state(workspace)
    for row in store.managed_user_rows(workspace):
        if key == row["key"] or key.lower() == row["user_name"].lower():
            return {
                "externalId": row["key"],
                "userName": row["user_name"],
                "id": row["live_id"],
                "version": row["version"],
                "groups": sorted(g for g, k in view.memberships if k == row["key"]),
                "updated_at": iso(row["updated_at"]),
                "attributes": row["attrs"],
            }
    if key in view.groups:
        return {
            "group": key,
            "id": view.groups[key],
            "managed_members": sorted(k for g, k in view.memberships if g == key),
        }
    return None
