"""Time as the state records it and people read it; no I/O library, so the read-side
modules (history, records, output) can use it without loading the database layer."""

from __future__ import annotations

from datetime import UTC, datetime

from scimctl.text import iso as iso  # the one format people see, named here for the state


def now() -> datetime:
    return datetime.now(UTC)
