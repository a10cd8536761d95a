"""Role grants per division: the emulator's subjects API, and plan/apply end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import BASE_SEED, Running, Workspace, user

SEED: dict[str, Any] = {**BASE_SEED, "divisions": ["Sales", "Support"]}


def grants_of(emu: Running, user_name: str) -> set[tuple[str, str, str]]:
    """(role, division, subject) of every grant ``GET /subjects/{id}`` lists."""
    uid = next(u["id"] for u in emu.users() if u["userName"] == user_name)
    with emu.http() as h:
        resp = h.get(f"/api/v2/authorization/subjects/{uid}")
    assert resp.status_code == 200, resp.text
    return {
        (g["role"]["name"], g["division"]["name"], "self" if g["subjectId"] == uid else "group")
        for g in resp.json()["grants"]
    }


def scim_roles(emu: Running, user_name: str) -> list[str]:
    found = next(u for u in emu.users() if u["userName"] == user_name)
    return sorted(r["value"] for r in found.get("roles") or [])


@pytest.fixture
def ws(start_emulator: Callable[..., Running], tmp_path: Any, sqlite_url: str) -> Workspace:
    return Workspace(tmp_path, start_emulator(SEED), sqlite_url)


def manifest(divisions: list[str] | str, **extra: Any) -> dict[str, Any]:
    role = {"name": "Supervisor", "divisions": divisions}
    return {"users": [user("S1", "sam@example.com", roles=["Agent", role], **extra)]}


def requests(emu: Running, fragment: str) -> int:
    return sum(n for k, n in emu.emulator.counters.by_route.items() if fragment in k)


def test_division_grants_end_to_end(ws: Workspace) -> None:
    emu = ws.emulator
    ws.write_manifest(manifest(["Sales"]))
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stderr
    assert "+ Supervisor in Sales" in out.stdout
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # Exactly that grant, the plain role in the user's own division, and the default role.
    assert grants_of(emu, "sam@example.com") == {
        ("Supervisor", "Sales", "self"),
        ("Agent", "Home", "self"),
    }
    assert scim_roles(emu, "sam@example.com") == ["Agent", "Supervisor"]
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    # Sales -> Support: one bulkremove and one bulkadd, both divisions named for review.
    ws.write_manifest(manifest(["Support"]))
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stderr
    review = out.stdout.split("scimctl will perform")[0]
    assert "Needs review" in review
    assert "- Supervisor in Sales" in review and "+ Supervisor in Support" in review
    assert "grant removed: Supervisor in Sales" in review
    before_add, before_remove = requests(emu, "bulkadd"), requests(emu, "bulkremove")
    before = emu.emulator.counters.requests
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert requests(emu, "bulkadd") - before_add == 1
    assert requests(emu, "bulkremove") - before_remove == 1
    # The plan's Cost counted them and the read-back of the grants.
    cost = json.loads((ws.path / "plan.json").read_text())["cost"]
    assert emu.emulator.counters.requests - before == cost["requests"], cost
    assert grants_of(emu, "sam@example.com") == {
        ("Supervisor", "Support", "self"),
        ("Agent", "Home", "self"),
    }
    assert ws.run("plan", "--detailed-exitcode").returncode == 0
    history = ws.run("history", "--user", "S1")
    assert history.returncode == 0, history.stderr
    assert "Supervisor" in history.stdout and "Sales" in history.stdout


def test_default_role_stays_with_grants_only(ws: Workspace) -> None:
    """A user whose only role is scoped keeps the default role Genesys gives it."""
    emu = ws.emulator
    role = {"name": "Supervisor", "divisions": "*"}
    ws.write_manifest({"users": [user("S2", "kim@example.com", roles=[role])]})
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert grants_of(emu, "kim@example.com") == {
        ("Supervisor", "*", "self"),
        ("Employee", "Home", "self"),
    }
    assert ws.run("plan", "--detailed-exitcode").returncode == 0


def test_denied_and_unknown_grants_are_located_errors(ws: Workspace) -> None:
    ws.write_manifest(
        {
            "users": [
                user(
                    "S3",
                    "lee@example.com",
                    roles=[
                        {"name": "Master Admin", "divisions": ["Sales"]},
                        {"name": "Supervisor", "divisions": ["Nowhere"]},
                    ],
                )
            ]
        }
    )
    out = ws.run("plan")
    assert out.returncode == 1
    assert "scimctl.yaml:5: roles" in out.stderr
    assert "'Master Admin' in division 'Sales' refused" in out.stderr
    assert "division 'Nowhere' does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_manifest_role_shapes_are_validated(ws: Workspace) -> None:
    ws.write_manifest(
        {
            "users": [
                user(
                    "S4",
                    "max@example.com",
                    roles=["Supervisor", {"name": "Supervisor", "divisions": ["Sales"]}],
                )
            ]
        }
    )
    out = ws.run("validate")
    assert out.returncode == 1
    assert "listed both as a name and with divisions" in out.stderr
    ws.write_manifest({"users": [user("S4", "max@example.com", roles=[{"name": "Supervisor"}])]})
    out = ws.run("validate")
    assert out.returncode == 1 and "divisions must be" in out.stderr


def test_emulator_subjects_api(start_emulator: Callable[..., Running]) -> None:
    seed = {
        **SEED,
        "groups": [{"name": "Leads", "grants": [{"role": "Supervisor", "division": "Support"}]}],
        "users": [{"userName": "a@example.com", "displayName": "A", "groups": ["Leads"]}],
    }
    emu = start_emulator(seed)
    uid = emu.users()[0]["id"]
    roles = {r.name: r.id for r in emu.directory.roles.values()}
    sales = emu.directory.divisions.by_name["Sales"].id
    support = emu.directory.divisions.by_name["Support"].id
    base = f"/api/v2/authorization/subjects/{uid}"
    with emu.http() as h:
        # Inherited from the group: listed with the group as subject, not removable here.
        assert grants_of(emu, "a@example.com") == {("Supervisor", "Support", "group")}
        grant = {"roleId": roles["Supervisor"], "divisionId": support}
        resp = h.post(f"{base}/bulkremove", json={"grants": [grant]})
        assert resp.status_code == 400 and "inherited" in resp.json()["message"]
        # Unknown role or division: refused.
        bad = h.post(f"{base}/bulkadd", json={"grants": [{"roleId": "nope", "divisionId": sales}]})
        assert bad.status_code == 400
        bad = h.post(
            f"{base}/bulkadd", json={"grants": [{"roleId": roles["Agent"], "divisionId": "nope"}]}
        )
        assert bad.status_code == 400
        # Adding is idempotent, and SCIM roles follow the grants.
        agent_sales = {"roleId": roles["Agent"], "divisionId": sales}
        for _ in range(2):
            assert h.post(f"{base}/bulkadd", json={"grants": [agent_sales]}).status_code == 204
        assert scim_roles(emu, "a@example.com") == ["Agent"]
        listing = h.get(f"/api/v2/authorization/roles/{roles['Agent']}/subjectgrants").json()
        assert [(e["id"], [d["name"] for d in e["divisions"]]) for e in listing["entities"]] == [
            (uid, ["Sales"])
        ]
        # A SCIM roles write that leaves a role out removes its grants in every division.
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "roles", "value": [{"value": "Employee"}]}],
        }
        assert h.patch(f"/api/v2/scim/v2/Users/{uid}", json=patch).status_code == 200
        assert ("Agent", "Sales", "self") not in grants_of(emu, "a@example.com")
        # A deleted account loses its grants.
        assert h.delete(f"/api/v2/scim/v2/Users/{uid}").status_code == 204
        assert h.get(base).status_code == 404
        assert emu.directory.grants.direct.get(uid) is None
        listing = h.get(f"/api/v2/authorization/roles/{roles['Employee']}/subjectgrants").json()
        assert listing["entities"] == []


def test_plan_reads_grants_per_role_not_per_user(
    start_emulator: Callable[..., Running], tmp_path: Any, sqlite_url: str
) -> None:
    emu = start_emulator(SEED)
    ws = Workspace(tmp_path, emu, sqlite_url)
    role = {"name": "Supervisor", "divisions": ["Sales"]}
    users = [user(f"K{i:03}", f"k{i:03}@example.com", roles=[role]) for i in range(150)]
    ws.write_manifest({"users": users})
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    assert ws.run("apply", "plan.json").returncode == 0
    before = dict(emu.emulator.counters.by_route)
    out = ws.run("plan", "--detailed-exitcode")
    assert out.returncode == 0, out.stdout + out.stderr
    after = emu.emulator.counters.by_route
    new = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    assert sum(n for k, n in new.items() if "subjectgrants" in k) == 2  # 150 users, pages of 100
    assert not any("/subjects/" in k for k in new)
    plan = json.loads((ws.path / "plan.json").read_text())
    assert plan["summary"]["counts"]["grants"] == 150


def test_ownership_keeps_what_others_added(ws: Workspace) -> None:
    """roles additive and phoneNumbers ignore: a grant and a phone number set by hand
    survive an apply, and the next plan exits 0 naming both under "Left alone"."""
    emu = ws.emulator

    def write(title: str) -> None:
        entry = user(
            "S1",
            "sam@example.com",
            title=title,
            roles=[{"name": "Supervisor", "divisions": ["Sales"]}],
            phoneNumbers=[{"type": "work", "value": "+12125550101"}],
        )
        policy = {"ownership": {"roles": "additive", "phoneNumbers": "ignore"}}
        ws.write_manifest({"policy": policy, "users": [entry]})

    write("Agent")
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    uid = next(u["id"] for u in emu.users() if u["userName"] == "sam@example.com")
    roles = {r.name: r.id for r in emu.directory.roles.values()}
    support = emu.directory.divisions.by_name["Support"].id
    with emu.http() as h:  # someone else, by hand: another role in another division
        resp = h.post(
            f"/api/v2/authorization/subjects/{uid}/bulkadd",
            json={"grants": [{"roleId": roles["Agent"], "divisionId": support}]},
        )
        assert resp.status_code == 204
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "phoneNumbers",
                 "value": [{"type": "work", "value": "+12125550199"}]}
            ],
        }  # fmt: skip
        assert h.patch(f"/api/v2/scim/v2/Users/{uid}", json=patch).status_code == 200

    write("Senior Agent")  # an apply that changes something else
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stderr
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert ("Agent", "Support", "self") in grants_of(emu, "sam@example.com")
    assert ("Supervisor", "Sales", "self") in grants_of(emu, "sam@example.com")
    found = next(u for u in emu.users() if u["userName"] == "sam@example.com")
    assert [p["value"] for p in found["phoneNumbers"]] == ["+12125550199"]
    assert found["title"] == "Senior Agent"

    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    left = again.stdout.split("Left alone (attribute ownership):")[1]
    assert 'roles (additive): not granted by scimctl, kept: ["Agent"]' in left
    assert "phoneNumbers (ignore): set on create only" in left
    assert "+12125550199" in left
    shown = ws.run("plan", "--format", "markdown", "--redact")
    assert "Left alone by attribute ownership (2)" in shown.stdout
    assert "+12125550199" not in shown.stdout


def test_ownership_is_validated(ws: Workspace) -> None:
    ws.write_manifest(
        {"policy": {"ownership": {"title": "additive"}}, "users": [user("S1", "sam@example.com")]}
    )
    out = ws.run("validate")
    assert out.returncode == 1
    assert "policy.ownership" in out.stderr and "additive applies to list attributes" in out.stderr
    ws.write_manifest({"users": [user("S1", "sam@example.com", ownership={"skills": "sometimes"})]})
    out = ws.run("validate")
    assert out.returncode == 1 and "not one of authoritative, additive, ignore" in out.stderr


def test_restore_brings_everything_back(ws: Workspace) -> None:
    """A deleted managed account with grants and memberships comes back whole after
    one apply, the plan saying what it re-applies; a plan afterwards exits 0."""
    emu = ws.emulator
    entry = user(
        "R1",
        "rita@example.com",
        division="Support",
        title="Lead",
        roles=["Agent", {"name": "Supervisor", "divisions": ["Sales"]}],
        groups=["Support"],
    )
    ws.write_manifest({"groups": [{"name": "Support"}], "users": [entry]})
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    whole = {("Agent", "Support", "self"), ("Supervisor", "Sales", "self")}
    assert grants_of(emu, "rita@example.com") == whole

    uid = next(u["id"] for u in emu.users() if u["userName"] == "rita@example.com")
    with emu.http() as h:  # deleted in Genesys: grants and memberships go with it
        assert h.delete(f"/api/v2/users/{uid}").status_code == 200
    assert "rita@example.com" not in emu.member_names("Support")

    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stderr
    restore = next(line for line in out.stdout.splitlines() if "restore user R1" in line)
    for part in (
        "division Support",
        "roles Agent",
        "attributes",
        "title",
        "grants Supervisor in Sales",
        "memberships Support",
    ):
        assert part in restore, (part, restore)
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    assert grants_of(emu, "rita@example.com") == whole
    assert "rita@example.com" in emu.member_names("Support")
    back = next(u for u in emu.users() if u["userName"] == "rita@example.com")
    assert back["id"] == uid and back["title"] == "Lead"
    ent = back["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert ent["division"] == "Support"
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_import_writes_grants_and_plans_no_changes(
    start_emulator: Callable[..., Running], tmp_path: Any, sqlite_url: str
) -> None:
    seed = {
        **SEED,
        "users": [
            {
                "userName": "ann@example.com", "displayName": "Ann", "externalId": "I1",
                "roles": ["Agent", "Supervisor"],
                "grants": [{"role": "Supervisor", "division": "Sales"},
                           {"role": "Supervisor", "division": "Support"}],
            },
            {"userName": "bob@example.com", "displayName": "Bob", "externalId": "I2",
             "roles": ["Agent"]},
        ],
    }  # fmt: skip
    emu = start_emulator(seed)
    ws = Workspace(tmp_path, emu, sqlite_url)
    out = ws.run("import", "--api-url", emu.url, "--out", "scimctl.yaml")
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ws.path / "scimctl.yaml").read_text()
    assert "{name: Supervisor, divisions: [Home, Sales, Support]}" in text
    assert "roles: [Agent]" in text  # held in the user's own division only: a name
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    shown = ws.run("state", "show", "I1")
    assert shown.returncode == 0, shown.stderr
    assert "Supervisor" in shown.stdout and "Sales" in shown.stdout


def test_additive_removes_own_grant_after_an_unrelated_update(ws: Workspace) -> None:
    """roles additive: the grants scimctl made stay recorded as scimctl's through a
    later ordinary update of the same user, so one dropped from the manifest is
    removed (bulkremove), while grants added by hand survive throughout."""
    emu = ws.emulator

    def write(title: str, divisions: list[str]) -> None:
        roles = ["Agent", {"name": "Supervisor", "divisions": divisions}]
        entry = user("S1", "sam@example.com", title=title, roles=roles)
        ws.write_manifest({"policy": {"ownership": {"roles": "additive"}}, "users": [entry]})

    write("Agent", ["Sales", "Support"])
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    uid = next(u["id"] for u in emu.users() if u["userName"] == "sam@example.com")
    roles = {r.name: r.id for r in emu.directory.roles.values()}
    division = {name: emu.directory.divisions.by_name[name].id for name in ("Home", "Support")}
    by_hand = [  # another role in another division, and the same role in another division
        {"roleId": roles["Employee"], "divisionId": division["Support"]},
        {"roleId": roles["Supervisor"], "divisionId": division["Home"]},
    ]
    with emu.http() as h:
        resp = h.post(f"/api/v2/authorization/subjects/{uid}/bulkadd", json={"grants": by_hand})
        assert resp.status_code == 204
    hand = {("Employee", "Support", "self"), ("Supervisor", "Home", "self")}
    mine = {("Supervisor", "Sales", "self"), ("Supervisor", "Support", "self")}
    assert hand | mine <= grants_of(emu, "sam@example.com")

    write("Senior Agent", ["Sales", "Support"])  # an ordinary update of the same user
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Plan: 1 to update." in out.stdout and "grants to change" not in out.stdout
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert hand | mine <= grants_of(emu, "sam@example.com")
    found = next(u for u in emu.users() if u["userName"] == "sam@example.com")
    assert found["title"] == "Senior Agent"

    write("Senior Agent", ["Support"])  # scimctl's grant in Sales dropped from the manifest
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stdout + out.stderr
    review = out.stdout.split("scimctl will perform")[0]
    assert "- Supervisor in Sales" in review and "grant removed: Supervisor in Sales" in review
    removes, adds = requests(emu, "bulkremove"), requests(emu, "bulkadd")
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (requests(emu, "bulkremove") - removes, requests(emu, "bulkadd") - adds) == (1, 0)
    held = grants_of(emu, "sam@example.com")
    assert ("Supervisor", "Sales", "self") not in held
    assert hand | {("Supervisor", "Support", "self")} <= held
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def _hand_grant(emu: Running, user_name: str, role: str, division: str) -> None:
    """Someone else, by hand: ``bulkadd`` of one grant through the subjects API."""
    uid = next(u["id"] for u in emu.users() if u["userName"] == user_name)
    roles = {r.name: r.id for r in emu.directory.roles.values()}
    grant = {"roleId": roles[role], "divisionId": emu.directory.divisions.by_name[division].id}
    with emu.http() as h:
        resp = h.post(f"/api/v2/authorization/subjects/{uid}/bulkadd", json={"grants": [grant]})
    assert resp.status_code == 204, resp.text


def test_additive_record_moves_with_a_rekey(ws: Workspace) -> None:
    """roles additive: after a rehire re-keys the user, the grants scimctl made are
    still known as scimctl's, so one the manifest drops later is removed; a grant
    added by hand survives."""
    emu = ws.emulator

    def write(key: str, divisions: list[str], **extra: Any) -> None:
        roles = ["Agent", {"name": "Supervisor", "divisions": divisions}]
        entry = user(key, "sam@example.com", roles=roles, **extra)
        ws.write_manifest({"policy": {"ownership": {"roles": "additive"}}, "users": [entry]})

    write("OLD-1", ["Sales", "Support"])
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _hand_grant(emu, "sam@example.com", "Employee", "Support")
    hand = ("Employee", "Support", "self")

    write("NEW-1", ["Sales", "Support"], previousExternalIds=["OLD-1"])
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "to re-key" in out.stdout and "grant removed" not in out.stdout
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert ws.run("plan", "--detailed-exitcode").returncode == 0

    write("NEW-1", ["Support"], previousExternalIds=["OLD-1"])  # scimctl's Sales grant dropped
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stdout + out.stderr
    review = out.stdout.split("scimctl will perform")[0]
    assert "grant removed: Supervisor in Sales" in review
    removes = requests(emu, "bulkremove")
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert requests(emu, "bulkremove") - removes == 1
    held = grants_of(emu, "sam@example.com")
    assert ("Supervisor", "Sales", "self") not in held
    assert {hand, ("Supervisor", "Support", "self")} <= held
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_additive_dropping_a_scoped_role_keeps_grants_added_by_hand(ws: Workspace) -> None:
    """roles additive: a scoped role dropped from the manifest entirely loses only the
    grants scimctl made (bulkremove), not the same role granted by hand elsewhere,
    which a SCIM ``roles`` write would take away in every division."""
    emu = ws.emulator

    def write(roles: list[Any], ownership: str = "additive", title: str = "Agent") -> None:
        entry = user("S1", "sam@example.com", roles=roles, title=title)
        ws.write_manifest({"policy": {"ownership": {"roles": ownership}}, "users": [entry]})

    scoped = {"name": "Supervisor", "divisions": ["Sales"]}
    write(["Agent", scoped])
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _hand_grant(emu, "sam@example.com", "Supervisor", "Support")
    write(["Agent", scoped], title="Senior Agent")  # an update: the record holds SCIM roles
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    write(["Agent"], title="Senior Agent")  # Supervisor no longer in the user's roles
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stdout + out.stderr
    review = out.stdout.split("scimctl will perform")[0]
    assert "grant removed: Supervisor in Sales" in review
    assert "role removed" not in out.stdout and "- Supervisor in Support" not in out.stdout
    removes = requests(emu, "bulkremove")
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert requests(emu, "bulkremove") - removes == 1
    held = grants_of(emu, "sam@example.com")
    assert ("Supervisor", "Sales", "self") not in held
    assert ("Supervisor", "Support", "self") in held
    assert scim_roles(emu, "sam@example.com") == ["Agent", "Supervisor"]
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    # Authoritative, as before: the role goes (through SCIM roles) in every division.
    write(["Agent"], ownership="authoritative", title="Senior Agent")
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not {g for g in grants_of(emu, "sam@example.com") if g[0] == "Supervisor"}


def test_additive_rekey_and_dropped_role_in_one_plan(ws: Workspace) -> None:
    """roles additive: a rehire re-keyed in the same plan that drops a scoped role
    entirely: the plan finds the old key's record, so scimctl's grant is removed and
    the one added by hand stays."""
    emu = ws.emulator

    def write(key: str, roles: list[Any], **extra: Any) -> None:
        entry = user(key, "sam@example.com", roles=roles, **extra)
        ws.write_manifest({"policy": {"ownership": {"roles": "additive"}}, "users": [entry]})

    write("OLD-2", ["Agent", {"name": "Supervisor", "divisions": ["Sales"]}])
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _hand_grant(emu, "sam@example.com", "Supervisor", "Support")

    write("NEW-2", ["Agent"], previousExternalIds=["OLD-2"])
    out = ws.run("plan", "--out", "plan.json")
    assert out.returncode == 0, out.stdout + out.stderr
    review = out.stdout.split("scimctl will perform")[0]
    assert "to re-key" in out.stdout and "grant removed: Supervisor in Sales" in review
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    held = grants_of(emu, "sam@example.com")
    assert ("Supervisor", "Sales", "self") not in held
    assert ("Supervisor", "Support", "self") in held
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
