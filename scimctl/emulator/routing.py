"""Routing skills and languages, as the Genesys Platform API serves them.

Genesys validates a user's ``routingSkills`` and ``routingLanguages`` against the
org's lists (names are case-sensitive, proficiency 0 to 5, at most 50 each) and
answers 400 for an unknown one. The emulator keeps the lists on the directory,
seeds them, and serves ``GET /api/v2/routing/skills`` and ``/languages`` with the
Platform API's paging shape, so scimctl can validate a plan before writing.
Kept apart from ``app.py`` and ``directory.py`` so the SCIM surface stays small.
The enterprise ``dateHire`` rule (ISO-8601 in, the date part out) lives here too.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scimctl.scim.schema import ENTERPRISE_USER, GENESYS_USER

SKILLS_PATH = "/api/v2/routing/skills"
LANGUAGES_PATH = "/api/v2/routing/languages"
MAX_ITEMS = 50


class RoutingError(ValueError):
    """A user document names a skill or language the org does not have."""


def _id(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"genesys-{kind}:{name}"))


def check_user_routing(doc: dict[str, Any], skills: set[str], languages: set[str]) -> None:
    """Raise :class:`RoutingError` as Genesys would for the Genesys extension's lists."""
    ext = doc.get(GENESYS_USER) or {}
    for key, known, what in (
        ("routingSkills", skills, "skill"),
        ("routingLanguages", languages, "language"),
    ):
        items = ext.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise RoutingError(f"{key} must be a list")
        if len(items) > MAX_ITEMS:
            raise RoutingError(f"At most {MAX_ITEMS} {key}")
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if name not in known:
                raise RoutingError(f"Routing {what} {name!r} does not exist")
            level = item.get("proficiency", 0)
            if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 5:
                raise RoutingError(f"Proficiency of {what} {name!r} must be between 0 and 5")


def normalise_hire_date(doc: dict[str, Any]) -> None:
    """Genesys accepts an ISO-8601 ``dateHire`` and keeps (and returns) its date part."""
    ent = doc.get(ENTERPRISE_USER)
    if not isinstance(ent, dict) or ent.get("dateHire") in (None, ""):
        return
    text = str(ent["dateHire"])
    try:
        day = dt.date.fromisoformat(text[:10])
        if len(text) > 10:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RoutingError(f"dateHire {text!r} is not an ISO-8601 date") from None
    ent["dateHire"] = day.isoformat()


def list_handler(
    kind: str, names: Callable[[], set[str]]
) -> Callable[[Request], Awaitable[Response]]:
    """A Platform API list endpoint (``entities``, ``pageSize``, ``pageNumber``, ``total``)."""
    path = SKILLS_PATH if kind == "skill" else LANGUAGES_PATH

    async def handler(request: Request) -> Response:
        q = request.query_params
        try:
            size = max(1, min(int(q.get("pageSize", "25")), 500))
            number = max(1, int(q.get("pageNumber", "1")))
        except ValueError:
            return JSONResponse({"message": "pageSize and pageNumber must be integers"}, 400)
        every = sorted(names())
        if q.get("name"):
            every = [n for n in every if n == q["name"]]
        pages = max(1, math.ceil(len(every) / size))
        page = every[(number - 1) * size : number * size]
        return JSONResponse(
            {
                "entities": [
                    {
                        "id": _id(kind, n),
                        "name": n,
                        "state": "active",
                        "selfUri": f"{path}/{_id(kind, n)}",
                    }
                    for n in page
                ],
                "pageSize": size,
                "pageNumber": number,
                "total": len(every),
                "pageCount": pages,
            }
        )

    return handler
