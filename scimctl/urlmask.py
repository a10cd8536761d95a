"""Masking credentials in URLs, for anything that shows or stores one.

Kept apart from the HTTP code so that loading a manifest does not import it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

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
