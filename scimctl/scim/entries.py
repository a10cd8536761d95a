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


def written_whole(ops: list[Any]) -> bool:
    """Whether a PatchOp writes emails the Genesys way (``replace emails`` with the work
    entry; a rename without moving the main address): what apply sends once a service
    refused the value-filter paths of :func:`entry_ops`."""
    plain = [o for o in ops if isinstance(o, dict)]
    if any(str(o.get("path", "")).startswith("emails") and o.get("op") != "replace" for o in plain):
        return False
    return any(o.get("op") == "replace" and o.get("path") in ("emails", "userName") for o in plain)


def whole_emails(ops: list[Any], current: dict[str, Any]) -> list[Any]:
    """``ops`` with the emails list written whole from the user as read just now: the
    main address at the (new) userName, the work entry as asked (or as it is), and
    every other entry kept, so a service that takes no value filters (django-scim2)
    neither loses the main address to a work email nor keeps it at the old userName."""
    old_name = current.get("userName")
    new_name = next(
        (o["value"] for o in ops if o.get("op") == "replace" and o.get("path") == "userName"),
        old_name,
    )
    asked = next((o for o in ops if o.get("op") == "replace" and o.get("path") == "emails"), None)
    entries = [e for e in current.get("emails") or [] if isinstance(e, dict)]
    work = (
        [e for e in asked.get("value") or [] if isinstance(e, dict)]
        if asked is not None
        else [e for e in entries if e.get("type") == "work"]
    )
    kept = [
        e for e in entries if e.get("type") != "work" and e.get("value") not in (old_name, new_name)
    ]
    main = {"value": new_name, "type": "other", "primary": True} if new_name else None
    emails = [*([main] if main else []), *work, *kept]
    rest = [o for o in ops if o is not asked]
    return [*rest, {"op": "replace", "path": "emails", "value": emails}]
