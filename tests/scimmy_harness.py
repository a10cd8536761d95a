"""SCIMMY 1.3.5 with scimmy-routers 1.3.2 on express, in-memory store, on a free port.

tests/scimmy holds the server script and its package.json; the npm packages are
installed there by .ci/run (or here, on first use, with ``npm install``). SCIMMY
refuses the listing's ``attributes=`` list once a user has enterprise data, announces
no ETag support while Express adds a weak body-hash ETag to every answer, and keeps
no versions.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

TOKEN = "scimmy-interop-token-Zq8#not-for-logs"
HERE = Path(__file__).resolve().parent / "scimmy"
_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def missing() -> str | None:
    """Why SCIMMY cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed: the SCIMMY interop tests need Node.js"
    if not (HERE / "node_modules" / "scimmy-routers").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            return "npm is not installed: cannot install scimmy for the interop tests"
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent"],
            cwd=HERE, check=True, timeout=300, capture_output=True,
        )  # fmt: skip
    return None


class ScimmyServer:
    """A running SCIMMY; ``scim_url`` is its SCIM root for scimctl."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            ["node", "server.js", TOKEN],
            cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self._proc.kill()
            raise RuntimeError(f"SCIMMY did not start: {line!r}")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"
        self.scim_url = f"{self.url}/scim"

    def __enter__(self) -> ScimmyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.kill()
        self._proc.wait(timeout=10)

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
                page = h.get("/Users", params={"startIndex": start, "count": 200}).json()
                for u in page.get("Resources") or []:
                    out[u.get("externalId") or u["id"]] = u
                start += len(page.get("Resources") or [])
                if not page.get("Resources") or start > page["totalResults"]:
                    return out

    def create_group(self, name: str) -> str:
        with self.http() as h:
            resp = h.post("/Groups", json={"schemas": [_GROUP], "displayName": name})
            resp.raise_for_status()
            return str(resp.json()["id"])

    def create_user(self, user_name: str, active: bool = True) -> str:
        doc = {"schemas": [_USER], "userName": user_name, "active": active}
        with self.http() as h:
            resp = h.post("/Users", json=doc)
            resp.raise_for_status()
            return str(resp.json()["id"])

    def members(self, name: str) -> set[str]:
        by_id = {u["id"]: key for key, u in self.users().items()}
        with self.http() as h:
            groups = h.get("/Groups", params={"filter": f'displayName eq "{name}"'}).json()
        return {by_id[m["value"]] for m in groups["Resources"][0].get("members") or []}

    def set_title(self, external_id: str, title: str) -> None:
        user = self.users()[external_id]
        op = {"op": "replace", "path": "title", "value": title}
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]}
        with self.http() as h:
            h.patch(f"/Users/{user['id']}", json=body).raise_for_status()
