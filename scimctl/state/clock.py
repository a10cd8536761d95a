"""Time as the state records it and people read it; no I/O library, so the read-side
modules (history, records, output) can use it without loading the database layer."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str:
    """The one timestamp format people see: ISO 8601, UTC, seconds, ``Z``."""
    if value is None:
        return "-"
    if value.tzinfo is None:  # SQLite gives back the UTC time without its zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
