"""Reading the org's routing skill and language names from the Platform API.

Genesys refuses a user whose ``routingSkills`` or ``routingLanguages`` name one the
org does not have; reading the lists lets the plan report every unknown name, with
the manifest line, before anything is written. Only read when the manifest uses
them, since most manifests do not.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from scimctl.model import Desired, Snapshot

SKILLS = "/api/v2/routing/skills"
LANGUAGES = "/api/v2/routing/languages"
PAGE_SIZE = 100


def _names(client: Any, path: str) -> frozenset[str]:
    names: set[str] = set()
    number, pages = 1, 1
    while number <= pages:
        params = {"pageSize": str(PAGE_SIZE), "pageNumber": str(number)}
        body = client.transport.request("GET", path, params=params).json()
        names.update(str(e["name"]) for e in body.get("entities") or [] if e.get("name"))
        total = int(body.get("total") or 0)
        pages = int(body.get("pageCount") or math.ceil(total / PAGE_SIZE) or 1)
        number += 1
    return frozenset(names)


def with_routing(snapshot: Snapshot, desired: Desired, client: Any) -> Snapshot:
    """The snapshot plus the skill/language lists the desired users need checked."""
    wants = {a for u in desired.users.values() for a in ("routingSkills", "routingLanguages")
             if u.attrs.get(a)}  # fmt: skip
    if not wants:
        return snapshot
    return dataclasses.replace(
        snapshot,
        skills=_names(client, SKILLS) if "routingSkills" in wants else None,
        languages=_names(client, LANGUAGES) if "routingLanguages" in wants else None,
    )
