"""Verified writes: what the service kept, compared with what scimctl sent.

A service may accept a value and store another (django-scim2 derives displayName
from the name parts) or drop it. Reporting it at apply, and remembering it in the
state, stops the next plan from proposing the same update forever: a value recorded
as not stored is not asked for again until the manifest asks for a different one.
"""

from __future__ import annotations

from typing import Any

from scimctl.model import LiveUser, same

# Attributes read back in a form comparable with what was sent (roles, manager and
# division go through ids or names that the service may translate).
VERIFIED = (
    "userName", "displayName", "title", "active", "department", "employeeNumber",
    "workEmail", "phoneNumbers", "dateHire",
)  # fmt: skip
# The state's record, per user, of values sent and not stored: {attribute: sent}.
NOT_STORED = "~notStored"


def not_stored(sent: dict[str, Any], live: LiveUser) -> dict[str, tuple[Any, Any]]:
    """Attributes whose sent value the service did not keep: {name: (sent, kept)}."""
    return {
        name: (value, live.attrs.get(name))
        for name, value in sent.items()
        if name in VERIFIED and not same(name, live.attrs.get(name), value)
    }


def describe(name: str, sent: Any, kept: Any) -> str:
    return f"{name} not stored by the service: sent {sent!r}, kept {kept!r}"


def remember(
    attrs: dict[str, Any],
    found: dict[str, tuple[Any, Any]],
    sent: dict[str, Any],
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The state's attributes with the kept values and the record of what was not
    stored: an attribute sent again and stored this time leaves the record."""
    record = {k: v for k, v in (earlier or {}).items() if k not in sent}
    record.update({name: value for name, (value, _) in found.items()})
    out = {k: v for k, v in attrs.items() if k != NOT_STORED}
    out.update({name: kept for name, (_, kept) in found.items()})
    if record:
        out[NOT_STORED] = record
    return out


def unsupported(applied: dict[str, Any] | None) -> dict[str, Any]:
    """{attribute: the value sent that the service did not store} from the state."""
    record = (applied or {}).get(NOT_STORED)
    return record if isinstance(record, dict) else {}
