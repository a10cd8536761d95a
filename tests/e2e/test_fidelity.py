"""Genesys behaviours the emulator imitates (issue 12) and how scimctl copes with them:
search lag, the default Employee role, divisions and the request body limit."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import BASE_SEED, CLIENT_ID, CLIENT_SECRET, Workspace, user

from scimctl.apply.executor import Executor
from scimctl.apply.recompute import target_document
from scimctl.config import Credentials, resolve_target
from scimctl.model import Desired, GroupSpec, ManagedUser, StateView, UserSpec
from scimctl.plan.diff import compute_plan
from scimctl.scim.client import GenesysClient
from scimctl.scim.schema import ENTERPRISE_USER, PATCH_OP
from scimctl.state import Store

USERS = "/api/v2/scim/v2/Users"

SEED = {**BASE_SEED, "divisions": ["Sales", {"name": "Finance", "writable": False}]}


def many(n: int, **attrs) -> dict:
    groups = ("Support", "Sales")
    return {
        "groups": [{"name": g} for g in groups],
        "users": [
            user(f"E{i:03}", f"user{i:03}@example.com", groups=[groups[i % 2]], **attrs)
            for i in range(n)
        ],
    }


def live_users(emu) -> list[dict]:
    return [emu.directory.user_doc(u) for u in emu.directory.visible_users()]


def gets_by_id(emu) -> int:
    return sum(
        n
        for route, n in emu.emulator.counters.by_route.items()
        if route.startswith(f"GET {USERS.lower()}/")
    )


def test_default_role_divisions_and_body_limit_over_http(start_emulator):
    emu = start_emulator(SEED, max_body_bytes=4_000)
    with emu.http() as h:
        plain = h.post(USERS, json={"userName": "a@example.com", "displayName": "A"}).json()
        assert [r["value"] for r in plain["roles"]] == ["Employee"]
        assert plain[ENTERPRISE_USER]["division"] == "Home"
        agent = h.post(
            USERS,
            json={"userName": "b@example.com", "displayName": "B", "roles": [{"value": "Agent"}]},
        ).json()
        assert [r["value"] for r in agent["roles"]] == ["Agent"]
        unknown = h.post(
            USERS,
            json={
                "userName": "c@example.com",
                "displayName": "C",
                ENTERPRISE_USER: {"division": "Nowhere"},
            },
        )
        assert unknown.status_code == 400 and unknown.json()["scimType"] == "invalidValue"
        assert "Nowhere" in unknown.json()["detail"]
        denied = h.patch(
            f"{USERS}/{plain['id']}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": f"{ENTERPRISE_USER}:division", "value": "Finance"}
                ],
            },
        )
        assert denied.status_code == 403 and "Finance" in denied.json()["detail"]
        page = h.get("/api/v2/authorization/divisions", params={"pageSize": 2}).json()
        assert page["total"] == 3 and page["pageCount"] == 2 and len(page["entities"]) == 2
        assert [e["name"] for e in page["entities"]] == ["Finance", "Home"]
        permitted = h.get(
            "/api/v2/authorization/divisionspermitted/paged/me",
            params={"permission": "directory:user:edit"},
        ).json()
        assert {e["name"] for e in permitted["entities"]} == {"Home", "Sales"}
        big = h.post(USERS, json={"userName": "d@example.com", "displayName": "D" * 5_000})
        assert big.status_code == 413 and emu.emulator.counters.too_large == 1
    off = start_emulator(SEED, default_role=None)
    with off.http() as h:
        bare = h.post(USERS, json={"userName": "a@example.com", "displayName": "A"}).json()
        assert bare["roles"] == []


def test_apply_200_users_then_plan_at_once_under_search_lag(start_emulator, tmp_path, sqlite_url):
    # The issue asks for 3 s; a longer lag is the same property and stays true however
    # slowly a busy machine starts the plan. Nothing waits for it to pass.
    emu = start_emulator(search_lag=30)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest(many(200, title="Agent"))
    applied = ws.run("apply", "--auto-approve", "--parallelism", "16")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    before = gets_by_id(emu)
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout
    # The listing was still behind: the plan had to read accounts by id.
    assert gets_by_id(emu) - before >= 200
    assert len(live_users(emu)) == 200


@pytest.mark.parametrize("search_wait", ["0", "3"])
def test_chaos_and_search_lag_converge_in_one_run_without_duplicates(
    start_emulator, tmp_path, sqlite_url, search_wait
):
    emu = start_emulator(search_lag=1, error_rate=0.1, reset_rate=0.1, random_seed=12)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest(many(40, title="Agent"))
    # --search-wait 3 (longer than the lag): an unknown create that landed is found by
    # looking again and again. --search-wait 0: it is sent again at once and meets a
    # 409 that only looking again, until search catches up, resolves.
    result = ws.run("apply", "--auto-approve", "--parallelism", "8", "--search-wait", search_wait)
    assert result.returncode == 0, result.stdout + result.stderr
    counters = emu.emulator.counters
    assert counters.injected_errors + counters.injected_resets > 0
    if search_wait == "0":
        assert counters.by_route[f"POST {USERS.lower()}"] > 40, "some creates were sent again"
    users = live_users(emu)
    assert len(users) == 40
    assert not [k for k, v in Counter(u["externalId"] for u in users).items() if v > 1]
    emu.emulator.config.error_rate = emu.emulator.config.reset_rate = 0
    final = ws.run("plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr


def test_stale_version_from_lagging_listing_is_retried_but_a_real_change_fails(
    start_emulator, tmp_path, sqlite_url
):
    # A long lag, so the plan below surely reads the listing before it catches up.
    emu = start_emulator(search_lag=60)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest(many(3, title="Agent"))
    assert ws.run("apply", "--auto-approve").returncode == 0
    by_ext = {u["externalId"]: u["id"] for u in live_users(emu)}
    search = emu.directory.search
    assert search is not None
    search.prime(emu.directory.users.values())  # search has caught up with the apply

    def patch(key: str, path: str, value: str) -> None:
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": path, "value": value}],
        }
        with emu.http() as h:
            h.patch(f"{USERS}/{by_ext[key]}", json=body).raise_for_status()

    # Someone changes an attribute scimctl does not manage; the listing will not show
    # the new version for a while.
    patch("E001", f"{ENTERPRISE_USER}:department", "Ops")
    changed = many(3, title="Lead")
    ws.write_manifest(changed)
    planned = ws.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    versions = {
        a["key"]: a["version"] for a in json.loads((tmp_path / "plan.json").read_text())["actions"]
    }
    live_version = emu.directory.users[by_ext["E001"]].version
    assert versions["E001"] != f'"{live_version}"', "the plan must have read a stale version"
    patch("E002", "title", "Boss")  # a real concurrent change to what the plan changes
    result = ws.run("apply", "plan.json")
    assert result.returncode == 4  # apply ran and an operation failed
    assert "update:user:E002" in result.stderr and "changed since the plan" in result.stderr
    assert "E001" not in result.stderr and "E000" not in result.stderr
    docs = {u["externalId"]: u for u in live_users(emu)}
    assert {k: d["title"] for k, d in docs.items()} == {
        "E000": "Lead",
        "E001": "Lead",
        "E002": "Boss",
    }
    assert docs["E001"][ENTERPRISE_USER]["department"] == "Ops", "the other change survives"


def test_entries_scimctl_does_not_manage_survive_its_writes(start_emulator, tmp_path, sqlite_url):
    """The emulator keeps entries as sent: a home phone added in Genesys, on a user whose
    manifest sets no phone numbers, survives a work-email change and a rename, and the
    main email follows the userName."""
    from flows import EmulatorWorkspace, apply_once

    emu = start_emulator()
    ws = EmulatorWorkspace(tmp_path, emu, sqlite_url)
    doc = {"users": [user("E1", "jo@example.com", title="Agent")]}
    ws.write_manifest(doc)
    apply_once(ws)
    (jo,) = live_users(emu)
    home = {"value": "+12125550199", "type": "home"}
    add = {"op": "add", "path": "phoneNumbers", "value": [home]}
    with emu.http() as h:
        resp = h.patch(f"{USERS}/{jo['id']}", json={"schemas": [PATCH_OP], "Operations": [add]})
        assert resp.status_code == 200, resp.text

    doc["users"][0].update(userName="jo.new@example.com", workEmail="jo@corp.example.com")
    ws.write_manifest(doc)
    apply_once(ws)
    (jo,) = live_users(emu)
    assert jo["phoneNumbers"] == [home]
    assert jo["emails"] == [
        {"value": "jo.new@example.com", "type": "other", "primary": True},
        {"value": "jo@corp.example.com", "type": "work"},
    ]


@pytest.mark.parametrize("mode", ["empty", "always"])
def test_default_role_never_makes_a_perpetual_diff(start_emulator, tmp_path, sqlite_url, mode):
    emu = start_emulator(default_role_mode=mode)
    ws = Workspace(tmp_path, emu, sqlite_url)
    doc = {
        "groups": [],
        "users": [
            user("E1", "none@example.com"),
            user("E2", "empty@example.com", roles=[]),
            user("E3", "agent@example.com", roles=["Agent"]),
        ],
    }
    ws.write_manifest(doc)
    assert ws.run("apply", "--auto-approve").returncode == 0
    roles = {u["externalId"]: sorted(r["value"] for r in u["roles"]) for u in live_users(emu)}
    agent = ["Agent", "Employee"] if mode == "always" else ["Agent"]
    assert roles == {"E1": ["Employee"], "E2": ["Employee"], "E3": agent}
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    # A role change that leaves Employee out keeps it, and is proposed once only.
    doc["users"][2]["roles"] = ["Supervisor"]
    doc["users"][1]["roles"] = ["Agent"]
    ws.write_manifest(doc)
    changed = ws.run("plan", "--detailed-exitcode")
    assert changed.returncode == 2 and "Employee" not in re.findall(r"- role \S+", changed.stdout)
    assert ws.run("apply", "--auto-approve").returncode == 0
    roles = {u["externalId"]: sorted(r["value"] for r in u["roles"]) for u in live_users(emu)}
    assert roles["E2"] == ["Agent", "Employee"]
    assert roles["E3"] == (["Employee", "Supervisor"] if mode == "always" else ["Supervisor"])
    final = ws.run("plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr


def test_unknown_or_unwritable_division_is_a_located_plan_error(
    start_emulator, tmp_path, sqlite_url
):
    emu = start_emulator(SEED)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest(
        {
            "groups": [],
            "users": [
                user("E1", "a@example.com", division="Sales"),
                user("E2", "b@example.com", division="Nowhere"),
                user("E3", "c@example.com", division="Finance"),
            ],
        }
    )
    result = ws.run("plan")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.search(
        r"scimctl\.yaml:\d+: division: division 'Nowhere' does not exist", result.stderr
    )
    assert re.search(
        r"scimctl\.yaml:\d+: division: division 'Finance' is one the OAuth client", result.stderr
    )
    assert live_users(emu) == []
    routes = emu.emulator.counters.by_route
    assert routes["GET /api/v2/authorization/divisions"] == 1, "read once for all users"
    assert routes["GET /api/v2/authorization/divisionspermitted/paged/me"] == 1
    ws.write_manifest({"groups": [], "users": [user("E1", "a@example.com", division="Sales")]})
    assert ws.run("apply", "--auto-approve").returncode == 0
    (only,) = live_users(emu)
    assert only[ENTERPRISE_USER]["division"] == "Sales"


def test_a_5000_member_change_goes_through_in_several_patches(start_emulator, tmp_path):
    n = 5_000
    seed = {
        **BASE_SEED,
        "users": [
            {"userName": f"m{i}@example.com", "displayName": f"M{i}", "externalId": f"M{i}"}
            for i in range(n)
        ],
    }
    emu = start_emulator(seed, max_body_bytes=20_000)
    group = next(g for g in emu.directory.groups.values() if g.doc["displayName"] == "Support")
    ids = {u.doc["externalId"]: u.id for u in emu.directory.visible_users()}
    target = resolve_target("genesys", None, emu.url, None)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    with GenesysClient.connect(target, Credentials(CLIENT_ID, CLIENT_SECRET)) as client:
        snapshot = client.snapshot()
        desired = Desired(
            users={
                k: UserSpec(k, {"userName": f"m{k[1:]}@example.com"}, ("Support",)) for k in ids
            },
            groups={"Support": GroupSpec("Support")},
        )
        state = StateView(
            "l", 1, users={k: ManagedUser(i, f"m{k[1:]}@example.com") for k, i in ids.items()}
        )
        plan = compute_plan(
            desired, snapshot, state, workspace=target.workspace,
            target=target_document(target), manifest_digest="x",
        )  # fmt: skip
        assert [(a.kind, len(a.members)) for a in plan.actions] == [("add_members", n)]
        run_id = store.start_run(target.workspace, "apply", "x", plan.digest)
        executor = Executor(plan, client, store, run_id)
        # As if a PATCH could carry them all: the body limit decides.
        executor.groups.member_chunk = n
        report = executor.run()
    assert report.ok, [r.error for r in report.failed]
    assert len(group.doc["members"]) == n
    patches = emu.emulator.counters.by_route[f"PATCH /api/v2/scim/v2/groups/{group.id}"]
    # 5,000 ids do not fit in 20,000 bytes: the first 413 halves the chunk until it
    # fits, and the rest of the change goes out in chunks of that size.
    too_large = emu.emulator.counters.too_large
    assert 1 <= too_large <= 5
    assert patches - too_large >= 10
    assert executor.groups.member_chunk < 20_000 // 48
