"""Identifiers from the service are data, never path.

A SCIM or Platform id ends up in the URL of every write to its resource. An id such
as ``../Groups/<id>`` would, sent as it is, turn the PATCH of a user into a PATCH of a
group, with a version the group accepts. So every id is checked where it enters
(the answer that carries it, the plan file that names it) and encoded as exactly one
path segment where a URL is built: :func:`item_path` is that one place.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from scimctl.errors import ApiError

MAX_ID_LENGTH = 1024


def kind(value: object) -> str:
    """A JSON value's type in words: "an object", "a list", "null"."""
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "an integer" if isinstance(value, int) else "a number")


def id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a resource id, or None when it can."""
    if not isinstance(value, str):
        return f"is {kind(value)}, not a string"
    if not value:
        return "is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long"
    if "/" in value or "\\" in value:
        return "contains a slash"
    if value in (".", ".."):
        return "is a dot segment"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        return "contains a control character"
    return None


def shown(value: object, limit: int = 60) -> str:
    """A hostile value as it can be printed on one line: escaped and cut."""
    text = ascii(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_id(value: object, what: str) -> str:
    """``value`` as an id, or :class:`ValueError` naming ``what`` and why not."""
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"{what} has a malformed id {shown(value)} (it {problem})")
    assert isinstance(value, str)
    return value


def item_path(collection: str, value: str) -> str:
    """``collection/<id>``: the path of one resource, the id percent-encoded as one
    segment (``?``, ``#``, ``%`` and all but unreserved characters escaped).

    Ids are checked where they enter, so a refusal here is a last line of defence:
    no request is sent."""
    problem = id_problem(value)
    if problem is not None:
        raise ApiError(
            f"refusing a request to {collection}/{shown(value)}: the id {problem}",
            path=collection,
        )
    return f"{collection}/{quote(value, safe='')}"
