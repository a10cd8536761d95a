"""Reading the org's routing skill and language names from the Platform API.

Genesys refuses a user whose ``routingSkills`` or ``routingLanguages`` name one the
org does not have; reading the lists lets the plan report every unknown name, with
the manifest line, before anything is written. Only read when the manifest uses
them, since most manifests do not.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scimctl.errors import ApiError
from scimctl.model import Desired, Snapshot

SKILLS = "/api/v2/routing/skills"
LANGUAGES = "/api/v2/routing/languages"
PAGE_SIZE = 100


def _names(client: Any, path: str) -> frozenset[str]:
    docs = client._platform_list(path, {}, PAGE_SIZE)
    names = {e.get("name") for e in docs}
    if not all(isinstance(n, str) for n in names if n is not None):
        raise ApiError(f"GET {path}: a name is not a string", method="GET", path=path)
    return frozenset(n for n in names if n)


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
