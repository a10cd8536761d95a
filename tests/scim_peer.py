"""What the interop tests do to an independent SCIM server out of band, through the
server's own API (never through scimctl): list users, read a group's members, create
accounts as someone else would, edit one by hand.

Each harness (scim2_harness, django_scim2_harness, scimmy_harness) starts its server
and sets ``scim_url``, ``token`` and whatever its server needs differently.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def start_printing_port(
    command: list[str], cwd: Path, what: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """A server in its own process that binds a port the OS gives it and prints it."""
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"{what} did not start: {line!r}")
    return proc, int(line)


class ScimPeer:
    scim_url: str
    token: str
    page_size = 200
    cursor_only = False  # pages only by cursor (RFC 9865)

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.scim_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def users(self) -> dict[str, dict[str, Any]]:
        """Every user by externalId (or id), read through the server's own listing."""
        out: dict[str, dict[str, Any]] = {}
        if self.cursor_only:
            return self._users_by_cursor()
        with self.http() as h:
            start = 1
            while True:
                params = {"startIndex": start, "count": self.page_size}
                page = h.get("/Users", params=params).json()
                for u in page.get("Resources") or []:
                    out[u.get("externalId") or u["id"]] = u
                start += len(page.get("Resources") or [])
                if not page.get("Resources") or start > page["totalResults"]:
                    return out

    def _users_by_cursor(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self.http() as h:
            cursor = ""
            for _ in range(1000):
                params: dict[str, str | int] = {"cursor": cursor, "count": self.page_size}
                page = h.get("/Users", params=params).json()
                for u in page.get("Resources") or []:
                    out[u.get("externalId") or u["id"]] = u
                cursor = page.get("nextCursor")
                if not cursor:
                    return out
        raise AssertionError("the server's cursors never ended")

    def user_fields(self, user_name: str) -> dict[str, Any]:
        """What this server needs in a new user besides userName and active."""
        return {}

    def create_group(self, name: str) -> str:
        with self.http() as h:
            resp = h.post("/Groups", json={"schemas": [GROUP], "displayName": name})
            resp.raise_for_status()
            return str(resp.json()["id"])

    def create_user(self, user_name: str, active: bool = True) -> str:
        doc = {"schemas": [USER], "userName": user_name, "active": active}
        with self.http() as h:
            resp = h.post("/Users", json={**doc, **self.user_fields(user_name)})
            resp.raise_for_status()
            return str(resp.json()["id"])

    def members(self, name: str) -> set[str]:
        """externalIds of a group's members."""
        by_id = {u["id"]: key for key, u in self.users().items()}
        with self.http() as h:
            groups = h.get("/Groups", params={"filter": f'displayName eq "{name}"'}).json()
        return {by_id[m["value"]] for m in groups["Resources"][0].get("members") or []}

    def set_title(self, external_id: str, title: str) -> None:
        user = self.users()[external_id]
        op = {"op": "replace", "path": "title", "value": title}
        with self.http() as h:
            resp = h.patch(f"/Users/{user['id']}", json={"schemas": [PATCH_OP], "Operations": [op]})
            resp.raise_for_status()
