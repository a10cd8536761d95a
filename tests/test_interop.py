"""scimctl against scim2-server, an independent RFC 7643/7644 implementation.

scim2-server answers PATCH with 204, weak ETags and 412, honours filter.maxResults
and refuses unknown extension URNs, so it catches what our own emulator, written
to the same understanding as the client, cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flows import TargetWorkspace, manifest, many, people, quickstart
from scim2_harness import CLIENT_ID, CLIENT_SECRET, TOKEN, Scim2Server

GROUP_NAMES = ("Support", "Support Tier1", "Sales")


@pytest.fixture
def scim2() -> Iterator[Callable[..., Scim2Server]]:
    started: list[Scim2Server] = []

    def start(**options: object) -> Scim2Server:
        server = Scim2Server(**options).__enter__()  # type: ignore[arg-type]
        started.append(server)
        for name in GROUP_NAMES:  # groups must exist: scimctl does not create them
            server.create_group(name)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


def scim_workspace(path: Path, server: Scim2Server, state: str) -> TargetWorkspace:
    target = {"provider": "scim", "base_url": server.scim_url}
    return TargetWorkspace(path, target, {"SCIM_TOKEN": TOKEN}, state)


def test_quickstart_flow_provider_scim(scim2, tmp_path, sqlite_url):
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    quickstart(ws, server, server.front.lose_replies)
    assert server.front.lost == 2
    for kept in (tmp_path / "plan.json", tmp_path / "state.db"):
        assert TOKEN.encode() not in kept.read_bytes()
    # It really was 204s and a 412 that scimctl met, not 200s and 400s.
    seen = set(server.front.statuses)
    assert ("PATCH", 204) in seen and ("PATCH", 412) in seen


def test_quickstart_flow_genesys_provider(scim2, tmp_path, sqlite_url):
    server = scim2(genesys=True)
    target = {"provider": "genesys", "api_url": server.url}
    creds = {"GENESYS_CLIENT_ID": CLIENT_ID, "GENESYS_CLIENT_SECRET": CLIENT_SECRET}
    quickstart(
        TargetWorkspace(tmp_path, target, creds, sqlite_url), server, server.front.lose_replies
    )


def test_205_users_with_max_results_50(scim2, tmp_path, sqlite_url):
    server = scim2(max_results=50)
    many(scim_workspace(tmp_path, server, sqlite_url), server)


def test_what_the_service_cannot_do_is_refused_at_plan(scim2, tmp_path, sqlite_url):
    server = scim2(enterprise=False, patch=False)
    ws = scim_workspace(tmp_path, server, sqlite_url)
    ws.write_manifest(manifest(people()))
    result = ws.run("plan")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no enterprise User extension, so department cannot be managed" in result.stderr
    assert "no enterprise User extension, so division cannot be managed" in result.stderr
    assert "the service announces no PATCH support" in result.stderr
    assert not server.users()
