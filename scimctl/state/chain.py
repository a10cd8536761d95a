"""The audit journal's hash chain: how an entry's hash and seal are computed.

One chain per database. Its entries are journal rows (``operations``) and finished
runs (``runs``), in the order given by ``seq``; each entry's hash covers its
content and the hash of the entry before it, so an edited, removed or reordered
entry breaks the chain from there on. A run is sealed into the chain when it ends,
after its operations, so its hash is the chain head at its end: rows removed after
it no longer lead up to it.

With ``SCIMCTL_AUDIT_KEY`` the hashes are HMAC-SHA256 under that key, so that
someone who can write the database but does not hold the key cannot recompute
them. The key is never stored; entries carry only its fingerprint (``key_id``).

The *seal* is a short digest of each field. It is not evidence (the hash is): it
lets ``history verify`` name the field that was edited.

Rows written before migration 0002 have no ``seq``: they form one legacy chain per
workspace (the old format), and the new chain starts from an anchor over their
heads, so they cannot be cut off unnoticed either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

OPERATION_FIELDS = (
    "workspace", "run_id", "phase", "action_id", "action", "resource", "resource_key",
    "resource_id", "user_name", "method", "path", "status", "outcome", "attempts",
    "latency_ms", "error", "at", "changes", "seq", "key_id",
)  # fmt: skip
RUN_FIELDS = (
    "id", "workspace", "kind", "actor", "host", "ci", "manifest_digest", "plan_digest",
    "started_at", "finished_at", "outcome", "summary", "error", "pid", "locked_at", "seq",
    "key_id",
)  # fmt: skip
FIELDS = {"operations": OPERATION_FIELDS, "runs": RUN_FIELDS}
# Fields added later: covered where set, left out where empty, so the rows written
# before them keep the hash they were sealed with.
LATER_FIELDS = {"operations": (), "runs": ("scimctl_version",)}

# The format before migration 0002 (per-workspace chains, plain SHA-256).
LEGACY_FIELDS = OPERATION_FIELDS[:17]


def ts(value: datetime | None) -> str | None:
    """Timestamps as both databases give them back: UTC, microseconds, no zone."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _value(value: Any) -> Any:
    return ts(value) if isinstance(value, datetime) else value


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def key_id(key: str | None) -> str | None:
    """A fingerprint that tells keys apart without revealing them."""
    if not key:
        return None
    return hmac.new(key.encode(), b"scimctl audit key id", hashlib.sha256).hexdigest()[:16]


def fields(table: str, row: dict[str, Any]) -> dict[str, Any]:
    later = {k: row[k] for k in LATER_FIELDS[table] if row.get(k) is not None}
    return {"table": table, **{k: _value(row.get(k)) for k in FIELDS[table]}, **later}


def _hash(prev: str, values: dict[str, Any], key: str | None) -> str:
    data = (prev + "\n" + canonical(values)).encode()
    if key:
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def entry_hash(prev: str, table: str, row: dict[str, Any], key: str | None) -> str:
    return _hash(prev, fields(table, row), key)


def _seal(values: dict[str, Any]) -> dict[str, str]:
    # A checksum per field, to name what was edited; the hash is the evidence, so a
    # cheap checksum will do (an apply seals two entries per operation).
    out = {}
    for k, v in values.items():
        if k != "table":
            text = canonical(v) if isinstance(v, dict | list) else f"{type(v).__name__}:{v}"
            out[k] = format(zlib.crc32(text.encode()), "08x")
    return out


def seal(table: str, row: dict[str, Any]) -> dict[str, str]:
    return _seal(fields(table, row))


def hash_and_seal(
    prev: str, table: str, row: dict[str, Any], key: str | None
) -> tuple[str, dict[str, str]]:
    """Both at once, reading the row's fields once."""
    values = fields(table, row)
    return _hash(prev, values, key), _seal(values)


def changed_fields(table: str, row: dict[str, Any]) -> list[str]:
    """The fields whose value no longer matches the seal recorded with them."""
    recorded = row.get("seal")
    if isinstance(recorded, str):
        recorded = json.loads(recorded)
    if not isinstance(recorded, dict):
        return []
    now = seal(table, row)
    return sorted(k for k in now if recorded.get(k) != now[k])


def legacy_hash(prev: str, row: dict[str, Any]) -> str:
    """The hash of a row written before migration 0002."""
    data = {k: _value(row.get(k)) for k in LEGACY_FIELDS}
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev + raw).encode()).hexdigest()


def legacy_anchor(heads: dict[str, str]) -> str:
    """Where the chain starts: bound to the heads of the legacy per-workspace chains.

    Migration 0002 computes the same value (it keeps its own copy of this code, as a
    migration must not change when the application does).
    """
    if not heads:
        return GENESIS
    raw = json.dumps(heads, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(("scimctl legacy heads\n" + raw).encode()).hexdigest()
