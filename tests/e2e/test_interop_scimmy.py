"""scimctl against SCIMMY 1.3.5 + scimmy-routers 1.3.2 (npm), an independent SCIM
server with an in-memory store (tests/scimmy/server.js)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import user
from flows import GROUPS, TargetWorkspace, apply_once, converged, manifest, ok, people
from scimmy_harness import TOKEN, ScimmyServer, missing


@pytest.fixture(scope="module")
def scimmy() -> Iterator[ScimmyServer]:
    """One SCIMMY for the module: each test keys its users apart (E*, P*)."""
    why = missing()
    if why:
        pytest.skip(why)
    with ScimmyServer() as server:
        for group in GROUPS:
            server.create_group(group["name"])
        yield server


def workspace(path: Path, server: ScimmyServer, state: str) -> TargetWorkspace:
    target = {"provider": "scim", "base_url": server.scim_url}
    return TargetWorkspace(path, target, {"SCIM_TOKEN": TOKEN}, state)


def test_flow_with_enterprise_data_leavers_and_renames(scimmy, tmp_path, sqlite_url):
    ws = workspace(tmp_path, scimmy, sqlite_url)
    staff = [u for u in people() if "roles" not in u]
    for u in staff:
        u.pop("phoneNumbers", None)
    doc = {**manifest(staff), "defaults": {}}
    for u in doc["users"]:
        u.pop("roles", None)
    ws.write_manifest(doc)
    apply_once(ws)
    users = scimmy.users()
    assert sorted(k for k in users if k.startswith("E")) == ["E2", "E3", "E4"]
    assert users["E2"]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {
        "department": "Sales"
    }
    # A leaver who is a group member, a rename and a work email.
    staff = [u for u in staff if u["externalId"] != "E3"]
    staff[0] = {**staff[0], "userName": "amir.k@example.com", "workEmail": "w2@corp.example.com"}
    ws.write_manifest({**doc, "users": staff})
    apply_once(ws)
    users = scimmy.users()
    assert users["E3"]["active"] is False
    assert "E3" not in scimmy.members("Support Tier1")
    assert {(e.get("type"), e["value"]) for e in users["E2"]["emails"]} == {
        ("other", "amir.k@example.com"),
        ("work", "w2@corp.example.com"),
    }


def test_a_plan_of_many_users_costs_pages_not_reads(scimmy, tmp_path, sqlite_url):
    ws = workspace(tmp_path, scimmy, sqlite_url)
    staff = [user(f"P{i:03}", f"p{i:03}@example.com", groups=["Sales"]) for i in range(60)]
    ws.write_manifest({**manifest(staff), "defaults": {}})
    apply_once(ws)
    out = ok(ws, "--debug", "plan")
    converged(ws)
    # Express's weak body-hash ETag is no version (SCIMMY announces no ETag support):
    # nobody looks stale, so the plan reads pages of users, never one user by id.
    reads = re.findall(r"GET (/Users\S*) ->", out)
    assert reads and all(r == "/Users" for r in reads), reads
    # Two listings (active, inactive users), each sent again without attributes= where
    # an earlier test left users with enterprise data, which SCIMMY then refuses (400).
    assert len(reads) <= 4, reads
