"""Plan N managed users on services without versions: SCIMMY and scim2-server.

A service that keeps no version (or whose ETag is no version, as Express's under
SCIMMY) must cost pages, not one read per managed user: the goal is the minimum, the
discovery documents plus ceil(N / page size) user pages plus the group pages. The
users are created by ``scimctl apply`` first, so that all N are managed (in state).
scim2-server is measured twice: paging by index, and paging only by cursor (RFC
9865). Run with `make bench-plan-rfc` (N = 1,000; ``--users`` to change it). SCIMMY is
skipped, with the reason, where Node.js is missing.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from common import GOALS_MISSED, SCIMCTL, table  # noqa: E402

DISCOVERY = 3  # ServiceProviderConfig, ResourceTypes, Schemas


def scimctl(ws: Path, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "SCIM_TOKEN": token, "SCIMCTL_STATE": f"sqlite:///{ws}/s.db"}
    return subprocess.run(
        [SCIMCTL, *args], cwd=ws, env=env, capture_output=True, text=True, timeout=1800
    )


def measure(name: str, server: Any, token: str, users: int) -> list[Any]:
    for group in ("Support", "Sales"):
        server.create_group(group)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        doc = {
            "version": 1,
            "target": {"provider": "scim", "base_url": server.scim_url},
            "policy": {"max_deprovision": "10%"},
            "groups": [{"name": "Support"}, {"name": "Sales"}],
            "users": [
                {"externalId": f"P{i:05}", "userName": f"p{i:05}@example.com",
                 "displayName": f"P {i:05}", "groups": ["Sales" if i % 2 else "Support"]}
                for i in range(users)
            ],
        }  # fmt: skip
        (ws / "scimctl.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        done = scimctl(ws, "apply", "--auto-approve", token=token)
        if done.returncode != 0:
            raise SystemExit(f"{name}: apply failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        started = time.monotonic()
        planned = scimctl(ws, "--debug", "plan", "--detailed-exitcode", token=token)
        wall = time.monotonic() - started
    if planned.returncode != 0:
        raise SystemExit(f"{name}: plan not clean:\n{planned.stdout[-2000:]}{planned.stderr}")
    requests = re.findall(r"scimctl\.http DEBUG (\w+ \S+) ->", planned.stderr)
    pages = re.search(r"in ([\d,]+) pages?\b", planned.stderr)
    with server.http() as h:  # what the service serves per page when asked for 100
        served = len(h.get("/Users", params={"count": 100}).json()["Resources"])
    by_id = sum(1 for r in requests if re.match(r"GET /\S*Users/", r))
    user_pages = sum(1 for r in requests if re.fullmatch(r"GET /\S*Users", r))
    # Discovery, the user pages, one page of inactive users (read by filter, as
    # Genesys hides them from plain listings), one group page.
    minimum = DISCOVERY + math.ceil(users / max(1, served)) + 1 + 1
    return [name, users, len(requests), minimum, served, user_pages, by_id,
            pages[1] if pages else "?", f"{wall:.1f}"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    rows, notes = [], []
    from scim2_harness import TOKEN as SCIM2_TOKEN
    from scim2_harness import Scim2Server

    with Scim2Server() as server:
        rows.append(measure("scim2-server 0.8.3", server, SCIM2_TOKEN, args.users))
    # The same server paging only by cursor (RFC 9865): pages one after another.
    with Scim2Server(cursor_only=True) as server:
        rows.append(measure("scim2-server, cursors only", server, SCIM2_TOKEN, args.users))
    from scimmy_harness import TOKEN as SCIMMY_TOKEN
    from scimmy_harness import ScimmyServer, missing

    why = missing()
    if why:
        notes.append(f"SCIMMY skipped: {why}")
    else:
        with ScimmyServer() as server:
            rows.append(measure("SCIMMY 1.3.5", server, SCIMMY_TOKEN, args.users))
    headers = ["service", "managed", "requests", "minimum", "page", "user pages", "reads by id",
               "pages (plan's count)", "wall s"]  # fmt: skip
    print(table("plan of N managed users, no versions", headers, rows))
    for note in notes:
        print(note)
    missed = [r[0] for r in rows if r[6] or r[2] > r[3] + 2]
    if missed:
        print(f"goal missed (reads by id, or more than the minimum + 2): {', '.join(missed)}")
        return GOALS_MISSED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
