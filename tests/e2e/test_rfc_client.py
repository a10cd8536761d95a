"""The Genesys provider against RFC 7644 behaviours the emulator can switch on.

Each option reproduces something a SCIM service may do that Genesys does not do
today: 204 No Content on PATCH, pages capped below the requested count, and 412
Precondition Failed for a stale If-Match. The whole quickstart flow has to pass
against each, every apply converging in one run.
"""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest
from conftest import BASE_SEED, CLIENT_ID, CLIENT_SECRET, SCIMCTL, start_cli_emulator
from flows import EmulatorLive, EmulatorWorkspace, quickstart
from starlette.responses import JSONResponse

from scimctl.config import Credentials, resolve_target
from scimctl.scim.client import GenesysClient
from scimctl.scim.transport import ApiError


def test_quickstart_flow_with_every_rfc_option(start_emulator, tmp_path, sqlite_url):
    # All three at once: the flow is long, and each option alone already breaks the
    # old client (204 -> JSON error, cap -> missing users, 412 -> unexplained failure).
    emu = start_emulator(patch_204=True, page_cap=2, version_conflict=412)
    ws = EmulatorWorkspace(tmp_path, emu, sqlite_url)
    quickstart(ws, EmulatorLive(emu), emu.emulator.lose_replies)
    counted = emu.emulator.counters.by_route
    assert any(k.startswith("PATCH") for k in counted), "no PATCH was answered with 204"


def test_capped_pages_are_read_to_the_end(start_emulator):
    # The reproduction: with pages capped at 50 the old client asked for 100, stepped
    # startIndex by 100 and read 105 of 205 users. (The CLI flow with capped pages runs
    # in the quickstart test above, with a cap of 2.)
    users = [
        {"userName": f"p{i:03}@example.com", "displayName": "P", "active": i % 5 != 0}
        for i in range(205)
    ]
    emu = start_emulator({**BASE_SEED, "users": users}, page_cap=50)
    target = resolve_target(api_url=emu.url)
    with GenesysClient.connect(target, Credentials(CLIENT_ID, CLIENT_SECRET)) as client:
        pages: list[int] = []
        client.on_page = pages.append
        snapshot = client.snapshot()
    assert len(snapshot.users) == 205
    assert sum(1 for u in snapshot.users if not u.active) == 41
    assert max(pages) == 50


def test_a_server_that_stops_paging_is_an_error_not_a_short_read(start_emulator):
    users = [{"userName": f"u{i}@example.com", "displayName": "U"} for i in range(5)]
    emu = start_emulator({**BASE_SEED, "users": users}, page_cap=2)
    real = emu.emulator._list

    def stuck(request, *args, **kw):
        # totalResults keeps saying 5, but from the second page on there is nothing.
        response = real(request, *args, **kw)
        body = json.loads(response.body)
        if body["startIndex"] > 1:
            body["Resources"], body["itemsPerPage"] = [], 0
        return JSONResponse(body)

    emu.emulator._list = stuck
    target = resolve_target(api_url=emu.url)
    with GenesysClient.connect(target, Credentials(CLIENT_ID, CLIENT_SECRET)) as client:
        with pytest.raises(ApiError, match="no items at startIndex 3 although totalResults is 5"):
            client.list_users()
        assert emu.emulator.counters.requests < 10


def test_pages_of_varying_length_are_stitched_without_gaps_or_repeats(start_emulator):
    users = [{"userName": f"v{i:02}@example.com", "displayName": "V"} for i in range(23)]
    emu = start_emulator({**BASE_SEED, "users": users}, page_cap=3)
    real = emu.emulator._list

    def uneven(request, *args, **kw):
        # Pages of 3, then 2, then 1 item, over and over: every guess at the next
        # startIndex made from the previous page's length is wrong somewhere.
        body = json.loads(real(request, *args, **kw).body)
        keep = 3 - body["startIndex"] % 3
        body["Resources"] = body["Resources"][:keep]
        body["itemsPerPage"] = len(body["Resources"])
        return JSONResponse(body)

    emu.emulator._list = uneven
    target = resolve_target(api_url=emu.url)
    with GenesysClient.connect(target, Credentials(CLIENT_ID, CLIENT_SECRET)) as client:
        found = client.list_users()
    assert sorted(u.user_name for u in found) == sorted(u["userName"] for u in users)


def test_emulator_cli_options(tmp_path):
    proc, port = start_cli_emulator("--patch-204", "--page-cap", "7", "--version-conflict", "412")
    try:
        for _ in range(200):  # the banner comes just before uvicorn listens
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                proc.poll()
                assert proc.returncode is None, "the emulator exited"
                time.sleep(0.05)
        token = httpx.post(
            f"http://127.0.0.1:{port}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("scimctl-emulator", "emulator-secret"),
            timeout=10,
        ).json()["access_token"]
        spc = httpx.get(
            f"http://127.0.0.1:{port}/api/v2/scim/v2/ServiceProviderConfig",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert spc["filter"]["maxResults"] == 7
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run(
        [SCIMCTL, "emulator", "--version-conflict", "409"], capture_output=True, text=True
    )
    assert bad.returncode == 64 and "Traceback" not in bad.stderr
