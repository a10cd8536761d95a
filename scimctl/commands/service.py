"""The service scimctl talks to (``cli/service.py``): doctor."""

from __future__ import annotations

from scimctl.model import Desired
from scimctl.scim.client import ScimClient
from scimctl.scim.doctor import Check, run_doctor


def doctor(
    client: ScimClient, *, write: bool = False, desired: Desired | None = None
) -> list[Check]:
    """Probe the target before a first apply: reachability, auth, capabilities, paging,
    inactive users, versions, roles; with ``write``, one throw-away user too; with
    ``desired``, whether the service can hold what the manifest asks for."""
    return run_doctor(client, write=write, desired=desired)
