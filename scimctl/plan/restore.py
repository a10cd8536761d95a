"""What a restore brings back, said in the plan so a reviewer can check it.

Genesys restores a deleted account in the Home division without its roles, grants or
group memberships (Genesys help, "Delete someone from your organization";
docs/genesys.md, Deleted accounts). A ``restore`` action therefore re-applies every
desired attribute, and the plan's ``grants`` and ``add_members`` actions for that user
bring back the rest. This names all of it in the restore's reason; apply reads the
account back and reports anything that did not stick, which the next plan sets again.
"""

from __future__ import annotations

from scimctl.model.grants import grant_names
from scimctl.plan.model import Action

# Named first: what Genesys drops on restore and a reviewer most needs to see back.
FIRST = ("division", "roles")


def describe_restores(actions: list[Action]) -> list[Action]:
    out = []
    for a in actions:
        if a.kind != "restore":
            out.append(a)
            continue
        parts = []
        if "division" in a.changes:
            parts.append(f"division {a.changes['division'].after}")
        else:
            parts.append("division Home (the manifest names none)")
        roles = a.changes.get("roles")
        if roles is not None:
            parts.append("roles " + (", ".join(roles.after or []) or "none"))
        others = sorted(k for k in a.changes if k not in (*FIRST, "externalId", "userName"))
        if others:
            parts.append("attributes " + ", ".join(others))
        grants = next((g for g in actions if g.kind == "grants" and g.key == a.key), None)
        if grants is not None and "grants" in grants.changes:
            parts.append("grants " + ", ".join(grant_names(grants.changes["grants"].after)))
        groups = sorted(
            g.key
            for g in actions
            if g.kind == "add_members" and any(m.key == a.key for m in g.members)
        )
        if groups:
            parts.append("memberships " + ", ".join(groups))
        reason = f"{a.reason}; re-applies {'; '.join(parts)}" if a.reason else None
        out.append(a.model_copy(update={"reason": reason}))
    return out
