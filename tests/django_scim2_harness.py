"""django-scim2 (default adapters, in a minimal Django project) on a free loopback port.

django-scim2 is what a Django shop bolts onto its user table: no filter on externalId,
``displayName`` derived from the name parts, one email, no versions, and 501 for the
RFC 7644 member-removal form ``members[value eq "…"]`` while it accepts
``{"op": "remove", "path": "members", "value": [...]}``. The project lives in
tests/djscim; it runs in its own process (Django's settings are per process) and
prints the port the OS gave it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from scim_peer import ScimPeer, start_printing_port

TOKEN = "django-interop-token-Zq8#not-for-logs"
HERE = Path(__file__).resolve().parent


class DjangoScim2Server(ScimPeer):
    """A running django-scim2; ``scim_url`` is its SCIM root for scimctl."""

    page_size = 50
    token = TOKEN

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        command = [sys.executable, "-m", "djscim.serve", TOKEN]
        self._proc, self.port = start_printing_port(command, HERE, "django-scim2", env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.scim_url = f"{self.url}/scim/v2"

    def __enter__(self) -> DjangoScim2Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.kill()
        self._proc.wait(timeout=10)

    def groups(self) -> dict[str, dict[str, Any]]:
        with self.http() as h:
            page = h.get("/Groups", params={"count": 100}).json()
        return {g["displayName"]: g for g in page.get("Resources") or []}

    def user_fields(self, user_name: str) -> dict[str, Any]:
        return {"emails": [{"value": user_name, "primary": True}]}

    def members(self, name: str) -> set[str]:
        """externalIds of a group's members (it filters no groups: read them all)."""
        by_id = {u["id"]: key for key, u in self.users().items()}
        return {by_id[m["value"]] for m in self.groups()[name].get("members") or []}

    def set_title(self, external_id: str, title: str) -> None:
        raise NotImplementedError("django-scim2's default adapter stores no title")
