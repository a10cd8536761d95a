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

from scim_peer import ScimPeer, start_printing_port

TOKEN = "scimmy-interop-token-Zq8#not-for-logs"
HERE = Path(__file__).resolve().parent / "scimmy"


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


class ScimmyServer(ScimPeer):
    """A running SCIMMY; ``scim_url`` is its SCIM root for scimctl."""

    token = TOKEN

    def __init__(self) -> None:
        self._proc, self.port = start_printing_port(["node", "server.js", TOKEN], HERE, "SCIMMY")
        self.url = f"http://127.0.0.1:{self.port}"
        self.scim_url = f"{self.url}/scim"

    def __enter__(self) -> ScimmyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.kill()
        self._proc.wait(timeout=10)
