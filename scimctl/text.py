"""Text people read, written one way in every layer.

Counts go through :func:`count`, so no message says ``1 problems``. A URL that may
carry a credential goes through :func:`mask_url` wherever it is shown or stored, and a
time people read through :func:`iso`; this
module imports no HTTP code, so loading a manifest (which masks its webhook URL) does
not load any.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = ["count", "iso", "mask_url"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``0 users``, ``1 user``, ``2 users``, ``1,204 users``. Irregular plurals are given
    (``count(n, "entry", "entries")``); a noun phrase pluralises its first word when
    the plural is given whole (``count(n, "action that takes", "actions that take")``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


MASK = "***"
# A path segment that looks like a key (Slack-style hook URLs carry one there).
SECRETISH = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_\-]{20,}$")


def mask_url(url: str) -> str:
    """The URL with every credential it may carry replaced by ``***``.

    Masked: user and password, every query value (a query is where services put
    tokens and signatures, and nothing else in it is needed to recognise the URL), a
    fragment, and path segments that look like keys. Scheme, host, port and the
    ordinary path stay, so the URL can still be recognised and reviewed.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = host if ":" not in host else f"[{host}]"
    if port:
        netloc += f":{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{MASK}@{netloc}"
    path = "/".join(MASK if SECRETISH.match(seg) else seg for seg in parts.path.split("/"))
    query = urlencode(
        [(k, MASK) for k, _ in parse_qsl(parts.query, keep_blank_values=True)],
        safe="*",
        quote_via=quote,
    )
    if parts.query and not query:
        query = MASK
    return urlunsplit((parts.scheme, netloc, path, query, MASK if parts.fragment else ""))


def iso(value: datetime | None) -> str:
    """The one timestamp format people see: ISO 8601, UTC, seconds, ``Z``."""
    if value is None:
        return "-"
    if value.tzinfo is None:  # SQLite gives back the UTC time without its zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
