"""A PATCH of plain ``replace`` operations, carried out on a copy of the resource for
a PUT, on services that refuse the PATCH.

django-scim2's default adapter answers 501 to ``replace externalId`` (it patches only
userName, name parts, active and emails) while its PUT sets every attribute: adopting
an account made outside scimctl, which writes the externalId, is possible only so.
Only operations whose outcome is certain are carried out here (``replace`` of a plain
attribute, a sub-attribute or an extension attribute, or of a value object); anything
else (filters, ``add``, ``remove``) is left to the service, and the PATCH's refusal
stands.
"""

from __future__ import annotations

import copy
from typing import Any

from scimctl.scim.schema import CORE_USER


def replaced(doc: dict[str, Any], ops: list[Any]) -> dict[str, Any] | None:
    """``doc`` with ``ops`` carried out, or None when one of them is not a plain replace."""
    out = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or str(op.get("op", "")).lower() != "replace":
            return None
        path, value = op.get("path"), op.get("value")
        if path is None:
            if not isinstance(value, dict):
                return None
            out.update(copy.deepcopy(value))
            continue
        if not isinstance(path, str) or any(c in path for c in '[]"'):
            return None
        holder, name = _holder(out, path)
        if holder is None:
            return None
        if value is None:
            holder.pop(name, None)
        else:
            holder[name] = copy.deepcopy(value)
    return out


def _holder(doc: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    """The object that holds ``path``'s last attribute, made where missing, and its name."""
    holder = doc
    if path.startswith("urn:"):
        urn, _, path = path.rpartition(":")
        if urn != CORE_USER:
            ext = holder.setdefault(urn, {})
            if not isinstance(ext, dict):
                return None, path
            holder = ext
    *parents, name = path.split(".")
    for parent in parents:
        holder = holder.setdefault(parent, {})
        if not isinstance(holder, dict):
            return None, name
    return holder, name
