"""Counts as people read them: one helper, so no message says ``1 problems``."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``0 users``, ``1 user``, ``2 users``, ``1,204 users``. Irregular plurals are given
    (``count(n, "entry", "entries")``); a noun phrase pluralises its first word when
    the plural is given whole (``count(n, "action that takes", "actions that take")``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
