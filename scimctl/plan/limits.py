"""What the target cannot hold, kept out of the plan instead of proposed forever.

Two sources: the manifest's ``target.unsupported`` (attributes the service never
stores: never sent, never compared; ``groups``: memberships not managed), and the
state's record of values apply sent and the service did not keep (scimctl/plan/stored.py).
Either way the plan shows the attribute once, under "Not supported by this service",
rather than an update that would be sent, not stored, and proposed again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scimctl.model import Desired, LiveUser, same
from scimctl.plan.model import NotSupported
from scimctl.plan.stored import unsupported


def without_unsupported(desired: Desired) -> Desired:
    """``desired`` without what the manifest declares the target never stores."""
    dropped = desired.limits.unsupported
    if not dropped:
        return desired
    groups = "groups" in dropped
    users = {
        key: dataclasses.replace(
            spec,
            attrs={a: v for a, v in spec.attrs.items() if a not in dropped},
            groups=() if groups else spec.groups,
        )
        for key, spec in desired.users.items()
    }
    return dataclasses.replace(desired, users=users, groups={} if groups else desired.groups)


def storable(
    attrs: dict[str, Any], live: LiveUser, applied: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """``attrs`` without a value the service was sent once and did not store (recorded
    in the state by apply), and the names left out: proposing it again would loop. A
    different value is asked for."""
    record = unsupported(applied)
    kept: dict[str, Any] = {}
    left_out = []
    for a, v in attrs.items():
        if a in record and same(a, record[a], v) and not same(a, live.attrs.get(a), v):
            left_out.append(a)
        else:
            kept[a] = v
    return kept, left_out


def not_supported(desired: Desired, learned: dict[str, list[str]]) -> list[NotSupported]:
    """One entry per attribute: declared in the manifest, or learned at apply
    (``learned``: attribute -> keys of the users whose value was not stored)."""
    out = [NotSupported(attribute=a, source="manifest") for a in sorted(desired.limits.unsupported)]
    out += [
        NotSupported(attribute=a, source="learned", users=len(keys), example=min(keys))
        for a, keys in sorted(learned.items())
    ]
    return out
