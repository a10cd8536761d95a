"""A managed user's applied-attributes record, written by more than one action kind.

The user's own write (create, update, restore) records the attributes it sent; a
``grants`` action records ``grants``, the role x division grants scimctl made. Each
write replaces the record, so a field another kind owns and this write does not
carry is taken from the record it replaces: otherwise an ordinary update after a
grants action forgets which grants scimctl made, and ``additive`` ownership keeps
them forever instead of removing them once the manifest drops them.
"""

from __future__ import annotations

from typing import Any

# Record fields owned by an action kind other than the user's own write.
CARRIED = ("grants",)


def carried_over(before: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` plus what ``before`` (the record replaced, if any) holds of
    :data:`CARRIED` and ``attrs`` does not set; a write that sets one (even to
    ``[]``) replaces it."""
    if not isinstance(before, dict):
        return attrs
    kept = {k: before[k] for k in CARRIED if k in before and k not in attrs}
    return {**attrs, **kept} if kept else attrs
