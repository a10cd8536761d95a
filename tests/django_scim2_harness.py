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
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

TOKEN = "django-interop-token-Zq8#not-for-logs"
HERE = Path(__file__).resolve().parent
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


class DjangoScim2Server:
    """A running django-scim2; ``scim_url`` is its SCIM root for scimctl."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "djscim.serve", TOKEN],
            cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self._proc.kill()
            raise RuntimeError(f"django-scim2 did not start: {line!r}")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"
        self.scim_url = f"{self.url}/scim/v2"

    def __enter__(self) -> DjangoScim2Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.kill()
        self._proc.wait(timeout=10)

    # -- what tests do out of band --------------------------------------------
    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.scim_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def users(self) -> dict[str, dict[str, Any]]:
        """Every user by externalId (or id), read through the server's own listing."""
        out: dict[str, dict[str, Any]] = {}
        with self.http() as h:
            start = 1
            while True:
                page = h.get("/Users", params={"startIndex": start, "count": 50}).json()
                for u in page.get("Resources") or []:
                    out[u.get("externalId") or u["id"]] = u
                start += len(page.get("Resources") or [])
                if not page.get("Resources") or start > page["totalResults"]:
                    return out

    def groups(self) -> dict[str, dict[str, Any]]:
        with self.http() as h:
            page = h.get("/Groups", params={"count": 100}).json()
        return {g["displayName"]: g for g in page.get("Resources") or []}

    def create_group(self, name: str) -> str:
        with self.http() as h:
            resp = h.post("/Groups", json={"schemas": [_GROUP], "displayName": name})
            resp.raise_for_status()
            return str(resp.json()["id"])

    def create_user(self, user_name: str, active: bool = True) -> str:
        doc = {"schemas": [_USER], "userName": user_name, "active": active,
               "emails": [{"value": user_name, "primary": True}]}  # fmt: skip
        with self.http() as h:
            resp = h.post("/Users", json=doc)
            resp.raise_for_status()
            return str(resp.json()["id"])

    def members(self, name: str) -> set[str]:
        """externalIds of a group's members."""
        by_id = {u["id"]: key for key, u in self.users().items()}
        return {by_id[m["value"]] for m in self.groups()[name].get("members") or []}

    def set_title(self, external_id: str, title: str) -> None:
        raise NotImplementedError("django-scim2's default adapter stores no title")
