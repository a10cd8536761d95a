"""``scimctl doctor`` against the emulator and scim2-server: what it finds, and that it
writes nothing unless asked."""

from __future__ import annotations

from conftest import BASE_SEED, CLIENT_SECRET, Workspace
from flows import TargetWorkspace
from scim2_harness import CLIENT_ID as S2_ID
from scim2_harness import CLIENT_SECRET as S2_SECRET
from scim2_harness import TOKEN, Scim2Server

USERS = [
    {"userName": f"u{i}@example.com", "displayName": f"U{i}", "active": i % 3 != 0}
    for i in range(7)
]


def lines(result) -> dict[str, str]:
    out = {}
    for line in result.stdout.splitlines()[1:]:
        status, name, detail = line.split(None, 2)
        out[name] = f"{status} {detail}"
    return out


def test_read_only_by_default_and_reports_rfc_behaviour(start_emulator, tmp_path, sqlite_url):
    emu = start_emulator({**BASE_SEED, "users": USERS}, page_cap=2, patch_204=True,
                         version_conflict=412)  # fmt: skip
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest({})
    result = ws.run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    assert found["paging"].startswith("ok pages hold at most 2 of the 100")
    assert found["inactive"].startswith("ok 3 inactive users by filter; hidden from plain")
    assert found["roles"] == "ok 4 roles readable (names and permissions checked)"
    assert found["groups"].startswith("ok not possible")  # Genesys: never via SCIM
    assert found["writes"].startswith("skip read-only")
    assert {route.split()[0] for route in emu.emulator.counters.by_route} == {"GET"}

    written = ws.run("doctor", "--write")
    assert written.returncode == 0, written.stdout + written.stderr
    found = lines(written)
    assert found["patch"].startswith("ok PATCH answers 204 No Content")
    assert found["conflict"] == "ok a stale If-Match is refused with 412"
    assert found["cleanup"].startswith("ok probe user scimctl-doctor-")
    assert len(emu.directory.visible_users()) == len(USERS)
    assert CLIENT_SECRET not in written.stdout + written.stderr


def test_bad_credentials_and_unreachable_targets_fail_cleanly(
    emulator, tmp_path, sqlite_url, refused_port
):
    ws = Workspace(tmp_path, emulator, sqlite_url)
    ws.write_manifest({})
    bad = ws.run("doctor", GENESYS_CLIENT_SECRET="wrong-secret-value")
    assert bad.returncode == 1
    assert lines(bad)["auth"].startswith("fail token request") and "Traceback" not in bad.stderr
    assert "wrong-secret-value" not in bad.stdout + bad.stderr

    gone = TargetWorkspace(
        tmp_path, {"provider": "scim", "base_url": f"http://127.0.0.1:{refused_port}/scim"},
        {"SCIM_TOKEN": "t0k3n-never-printed"}, sqlite_url,
    )  # fmt: skip
    gone.write_manifest({})
    down = gone.run("doctor")
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert lines(down)["reachability"].startswith("fail cannot reach")
    assert "t0k3n-never-printed" not in down.stdout + down.stderr


def test_scim2_server_with_static_token_and_with_client_credentials(tmp_path, sqlite_url):
    with Scim2Server(max_results=3) as server:
        for i in range(4):
            server.create_user(f"d{i}@example.com", active=i != 0)
        ws = TargetWorkspace(
            tmp_path, {"provider": "scim", "base_url": server.scim_url},
            {"SCIM_TOKEN": TOKEN}, sqlite_url,
        )  # fmt: skip
        ws.write_manifest({})
        result = ws.run("doctor", "--write")
        assert result.returncode == 0, result.stdout + result.stderr
        found = lines(result)
        assert found["auth"] == "ok static bearer token accepted"
        assert found["paging"].startswith("ok pages hold at most 3")
        assert found["inactive"] == "ok 1 inactive users by filter; listed in plain listings too"
        assert found["roles"].startswith("ok plain SCIM roles values")
        assert found["groups"].startswith("ok possible")  # scim2-server lists Group
        assert found["patch"].startswith("ok PATCH answers 204")
        assert found["conflict"] == "ok a stale If-Match is refused with 412"
        wrong = ws.run("doctor", SCIM_TOKEN="not-the-token")
        assert wrong.returncode == 1 and lines(wrong)["auth"].endswith("check SCIM_TOKEN")
        assert "not-the-token" not in wrong.stdout + wrong.stderr

    with Scim2Server(genesys=True) as server:
        target = {
            "provider": "scim",
            "base_url": server.scim_url,
            "token_url": f"{server.url}/oauth/token",
        }
        ws = TargetWorkspace(
            tmp_path, target, {"SCIM_CLIENT_ID": S2_ID, "SCIM_CLIENT_SECRET": S2_SECRET},
            sqlite_url,
        )  # fmt: skip
        ws.write_manifest({})
        result = ws.run("doctor")
        assert result.returncode == 0, result.stdout + result.stderr
        found = lines(result)
        assert found["auth"] == "ok OAuth client credentials accepted"
        assert found["extensions"] == "ok User extensions: enterprise, genesys"


def test_write_probe_round_trips_the_manifests_attributes_and_a_member_removal(
    emulator, tmp_path, sqlite_url
):
    ws = Workspace(tmp_path, emulator, sqlite_url)
    jane = {
        "externalId": "E1", "userName": "jane@example.com", "displayName": "Jane Doe",
        "title": "Agent", "department": "Support", "roles": ["Agent"],
        "workEmail": "jane@corp.example.com",
        "routingSkills": [{"name": "Billing", "proficiency": 3}],
        "phoneNumbers": [{"type": "work", "value": "+12125550101"}], "groups": ["Sales"],
    }  # fmt: skip
    ws.write_manifest({"groups": [{"name": "Sales"}], "users": [jane]})
    result = ws.run("doctor", "--write")
    assert result.returncode == 0, result.stdout + result.stderr
    found = [line.split(None, 2) for line in result.stdout.splitlines()[1:]]
    trips = {d.split(":")[0]: s for s, n, d in found if n == "roundtrip"}
    assert trips == dict.fromkeys(
        ["department", "displayName", "phoneNumbers", "roles", "routingSkills", "title",
         "workEmail"], "ok"
    ), result.stdout  # fmt: skip
    assert ["ok", "manifest", "the service offers what the manifest needs"] in found
    assert ["ok", "membership", 'Sales: member added and removed by filter (members[value eq "…"])'
            ] in found  # fmt: skip
    assert emulator.directory.visible_users() == [] and emulator.group("Sales")["members"] == []
