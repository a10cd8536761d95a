"""Multi-valued attributes changed entry by entry, for services that follow RFC 7644.

Replacing ``emails`` or ``phoneNumbers`` wholesale drops every entry scimctl does not
manage (a home address, the main email on services where it is an ordinary entry).
So each managed entry is removed by a value-filter path and added back with its new
value, in one PatchOp (atomic by RFC 7644 3.5.2): entries nobody asked about stay.
Genesys is not written this way: there ``type: other`` is the userName, rebuilt by
the service and read-only, and ``replace emails`` with the work entry is the
documented write (see mapping.user_patch).
"""

from __future__ import annotations

from typing import Any

# Attributes user_patch hands to entry_ops on services written entry by entry.
PER_ENTRY = ("workEmail", "phoneNumbers")


def literal(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 3.4.2.2)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def entry_ops(name: str, before: Any, after: Any) -> list[dict[str, Any]]:
    """The operations that take ``name`` from ``before`` to ``after``, by entry."""
    if name == "workEmail":
        ops: list[dict[str, Any]] = []
        if before:
            ops.append({"op": "remove", "path": f"emails[value eq {literal(str(before))}]"})
        if after:
            ops.append({"op": "add", "path": "emails", "value": [{"value": after, "type": "work"}]})
        return ops
    if name == "phoneNumbers":
        old = {(str(t), str(v)) for t, v in before or []}
        new = {(str(t), str(v)) for t, v in after or []}
        ops = [
            {"op": "remove",
             "path": f"phoneNumbers[type eq {literal(t)} and value eq {literal(v)}]"}
            for t, v in sorted(old - new)
        ]  # fmt: skip
        added = [{"type": t, "value": v} for t, v in sorted(new - old)]
        if added:
            ops.append({"op": "add", "path": "phoneNumbers", "value": added})
        return ops
    raise ValueError(f"{name} is not written entry by entry")


def rename_ops(before: str | None, after: str) -> list[dict[str, Any]]:
    """A rename moves the main email along: scimctl creates it as the userName's
    ``type: other`` primary entry, and on an RFC service it is an ordinary entry."""
    ops: list[dict[str, Any]] = []
    if before:
        ops.append({"op": "remove", "path": f"emails[value eq {literal(before)}]"})
    entry = {"value": after, "type": "other", "primary": True}
    ops.append({"op": "add", "path": "emails", "value": [entry]})
    return ops
