"""Account lifecycle end to end: deleted accounts and restore, releasing accounts from
management (state rm, exclude:), against the emulator over loopback HTTP."""

from __future__ import annotations

import json
from datetime import datetime

from conftest import apply_unchecked, db, user

from scimctl.scim.schema import PATCH_OP
from scimctl.state.clock import iso


def manifest(**extra):
    return {
        "defaults": {"roles": ["Employee"]},
        "groups": [{"name": "Support"}, {"name": "Support Tier1", "parent": "Support"}],
        "users": [
            user(
                "E1",
                "jane@example.com",
                title="Agent",
                roles=["Employee", "Agent"],
                groups=["Support Tier1"],
            ),
            user("E2", "amir@example.com", groups=["Support"]),
        ],
        **extra,
    }


def by_name(emu, user_name):
    return next(u for u in emu.users() if u["userName"] == user_name)


def platform_delete(emu, user_id):
    with emu.http() as h:
        h.delete(f"/api/v2/users/{user_id}").raise_for_status()


# -- emulator: Platform users API ------------------------------------------------------


def test_platform_api_lists_by_state_and_restores_with_version(emulator):
    with emulator.http() as h:
        made = h.post(
            "/api/v2/scim/v2/Users",
            json={
                "userName": "gone@example.com",
                "displayName": "Gone",
                "roles": [{"value": "Agent"}],
            },
        ).json()
        assert h.delete(f"/api/v2/users/{made['id']}").status_code == 200
        assert h.get(f"/api/v2/scim/v2/Users/{made['id']}").status_code == 404
        # Its userName stays reserved.
        again = h.post(
            "/api/v2/scim/v2/Users", json={"userName": "gone@example.com", "displayName": "G"}
        )
        assert again.status_code == 409
        listed = h.get("/api/v2/users", params={"state": "deleted", "pageSize": 1}).json()
        assert listed["total"] == 1 and listed["pageCount"] == 1
        entity = listed["entities"][0]
        assert entity["email"] == "gone@example.com" and entity["state"] == "deleted"
        assert h.get("/api/v2/users", params={"state": "active"}).json()["total"] == 0
        assert h.get("/api/v2/users", params={"state": "any"}).json()["total"] == 1
        assert h.get("/api/v2/users", params={"state": "nope"}).status_code == 400
        stale = h.patch(
            f"/api/v2/users/{made['id']}",
            json={"state": "active", "version": entity["version"] - 1},
        )
        assert stale.status_code == 409 and stale.json()["code"] == "general.conflict"
        restored = h.patch(
            f"/api/v2/users/{made['id']}",
            json={"state": "active", "version": entity["version"]},
        )
        assert restored.status_code == 200 and restored.json()["state"] == "active"
        back = h.get(f"/api/v2/scim/v2/Users/{made['id']}").json()
        assert back["active"] is True and back["roles"] == []  # roles are not restored


def test_emulator_filter_unescapes_backslashes(emulator):
    with emulator.http() as h:
        h.post(
            "/api/v2/scim/v2/Users",
            json={"userName": "q@example.com", "displayName": "Q", "externalId": 'a\\b"c'},
        ).raise_for_status()
        found = h.get(
            "/api/v2/scim/v2/Users", params={"filter": 'externalId eq "a\\\\b\\"c"'}
        ).json()
    assert [u["userName"] for u in found["Resources"]] == ["q@example.com"]


# -- deleted accounts -------------------------------------------------------------------


def test_deleted_managed_account_is_restored_with_roles_and_memberships(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    jane = by_name(emu, "jane@example.com")
    platform_delete(emu, jane["id"])
    assert emu.member_names("Support Tier1") == set()

    planned = ws.run("plan", "--out", "plan.json", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "+ restore user E1 (jane@example.com)" in planned.stdout
    assert f"held by deleted account {jane['id']}" in planned.stdout
    assert "create user E1" not in planned.stdout
    doc = json.loads((ws.path / "plan.json").read_text())
    restore = next(a for a in doc["actions"] if a["kind"] == "restore")
    assert restore["live_id"] == jane["id"]
    assert {"kind": "restore", "privileged": False, "subject": None} in restore["effects"]

    before = emu.emulator.counters.requests
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # The plan's Cost counts what a restore spends: restore, read, write, read-back.
    assert emu.emulator.counters.requests - before == doc["cost"]["requests"], doc["cost"]
    back = by_name(emu, "jane@example.com")
    assert back["id"] == jane["id"] and back["active"] is True
    assert back["externalId"] == "E1" and back["title"] == "Agent"
    assert sorted(r["value"] for r in back["roles"]) == ["Agent", "Employee"]
    assert emu.member_names("Support Tier1") == {"jane@example.com"}
    assert emu.member_names("Support") == {"jane@example.com", "amir@example.com"}
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_create_refused_409_is_explained_skips_dependents_then_restored(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    # After the plan, an account with E2's userName is made and deleted in Genesys.
    with emu.http() as h:
        made = h.post(
            "/api/v2/scim/v2/Users", json={"userName": "amir@example.com", "displayName": "A"}
        ).json()
    platform_delete(emu, made["id"])

    # apply's recomputation sees the deleted account and refuses the reviewed plan...
    refused = ws.run("apply", "plan.json")
    assert refused.returncode == 1 and "Nothing was changed" in refused.stderr
    assert "+ restore:user:E2" in refused.stderr
    # ...and should the account appear after that check, the create's 409 is explained
    # and only what depends on it is held back (the library, without the check).
    report = apply_unchecked(ws)
    results = {r.node: (r.outcome, r.error or "") for r in report.results}
    assert results["create:user:E2"][0] == "failed"
    assert f"held by deleted account {made['id']}" in results["create:user:E2"][1]
    assert "the next plan restores it" in results["create:user:E2"][1]
    # Support gains jane (whose create worked) but not amir: not reported as a success.
    assert results["group:Support"] == (
        "partial",
        "left out members whose create failed: E2",
    )
    outcomes = dict(
        db(ws.state, "SELECT action_id, outcome FROM operations WHERE phase = 'result'")
    )
    assert outcomes["create:user:E2"] == "failed"
    assert outcomes["group:Support"] == "partial"
    assert ("Support", "E2") not in set(
        db(ws.state, "SELECT group_name, user_key FROM memberships")
    )

    planned = ws.run("plan")
    assert "+ restore user E2 (amir@example.com)" in planned.stdout
    assert "create user E2" not in planned.stdout
    assert ws.run("apply", "--auto-approve").returncode == 0
    assert by_name(emu, "amir@example.com")["id"] == made["id"]
    assert emu.member_names("Support") == {"jane@example.com", "amir@example.com"}
    assert ws.run("plan", "--detailed-exitcode").returncode == 0


def test_group_whose_only_new_member_failed_is_skipped_not_succeeded(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(
        {
            "groups": [{"name": "Support"}],
            "users": [user("E9", "kim@example.com", groups=["Support"])],
        }
    )
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    with emu.http() as h:  # a live account with another key takes the name after the plan
        h.post(
            "/api/v2/scim/v2/Users",
            json={"userName": "kim@example.com", "displayName": "K", "externalId": "X1"},
        ).raise_for_status()
    refused = ws.run("apply", "plan.json")  # the recomputation sees the takeover
    assert refused.returncode == 1 and "belongs to live user" in refused.stderr
    report = apply_unchecked(ws)  # as if the account appeared after that check
    results = {r.node: (r.outcome, r.error or "") for r in report.results}
    assert [o for o, _ in results.values()].count("ok") == 0 and len(results) == 2
    outcome, error = results["create:user:E9"]
    assert outcome == "failed" and "taken by live account" in error and "externalId X1" in error
    assert results["group:Support"][0] == "skipped"
    outcomes = dict(
        db(ws.state, "SELECT action_id, outcome FROM operations WHERE phase = 'result'")
    )
    assert outcomes == {"create:user:E9": "failed", "group:Support": "skipped"}
    assert emu.member_names("Support") == set()
    again = ws.run("plan")  # not the same create again: it says what holds the name
    assert again.returncode == 1 and "create user E9" not in again.stdout
    assert "belongs to live user" in again.stderr and "'X1'" in again.stderr


# -- releasing accounts -----------------------------------------------------------------


def _without_amir():
    doc = manifest(policy={"max_deprovision": "5"})
    doc["users"] = [u for u in doc["users"] if u["externalId"] != "E2"]
    return doc


def test_exclude_releases_an_account_untouched(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    before = by_name(emu, "amir@example.com")
    ws.write_manifest({**_without_amir(), "exclude": ["amir@example.com"]})
    planned = ws.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    assert "release user E2 (amir@example.com)" in planned.stdout
    assert "deactivate" not in planned.stdout and "remove" not in planned.stdout
    assert ws.run("apply", "plan.json").returncode == 0
    after = by_name(emu, "amir@example.com")
    assert after == before  # not one write: same version, roles, groups, active
    assert emu.member_names("Support") == {"jane@example.com", "amir@example.com"}
    assert db(ws.state, "SELECT key FROM managed_users ORDER BY key") == [("E1",)]
    released = db(
        ws.state,
        "SELECT o.action, o.resource_key, r.actor FROM operations o JOIN runs r "
        "ON r.id = o.run_id WHERE o.phase = 'result' AND o.action = 'release'",
    )
    assert len(released) == 1 and released[0][1] == "E2" and released[0][2]
    final = ws.run("plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout
    assert "Left alone: 1 live user" in final.stdout


def test_exclude_and_users_overlap_is_a_located_error(workspace):
    ws = workspace
    ws.write_manifest({**manifest(), "exclude": ["E2"]})
    result = ws.run("validate")
    assert result.returncode == 1
    assert "E2 is both desired and excluded" in result.stderr and "Traceback" not in result.stderr


def test_state_rm_releases_an_account_untouched(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    before = by_name(emu, "amir@example.com")
    removed = ws.run("state", "rm", "user:E2")
    assert removed.returncode == 0, removed.stderr
    assert "E2" in removed.stdout
    assert ws.run("state", "rm", "user:E2").returncode == 1  # not managed any more
    assert "Traceback" not in ws.run("state", "rm", "E2").stderr
    ws.write_manifest(_without_amir())
    planned = ws.run("plan", "--detailed-exitcode")
    assert planned.returncode == 0, planned.stdout
    assert "Left alone: 1 live user" in planned.stdout
    assert ws.run("apply", "--auto-approve").returncode == 0
    assert by_name(emu, "amir@example.com") == before
    history = ws.run("history", "--format", "json")
    entries = [r for r in json.loads(history.stdout) if r["action"] == "release"]
    assert len(entries) == 1 and entries[0]["resource_key"] == "E2" and entries[0]["actor"]


def test_state_rm_group_stops_managing_its_members(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    assert ws.run("state", "rm", "group:Support").returncode == 0
    assert db(ws.state, "SELECT count(*) FROM memberships WHERE group_name = 'Support'") == [(0,)]
    assert emu.member_names("Support") == {"jane@example.com", "amir@example.com"}


def test_restore_not_planned_without_creates(workspace):
    """A plan with no creates never reads deleted users (no extra Platform requests)."""
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    emu.emulator.counters.by_route.clear()
    assert ws.run("plan", "--detailed-exitcode").returncode == 0
    assert "GET /api/v2/users" not in emu.emulator.counters.by_route


# -- targeted plans ---------------------------------------------------------------------


def test_targeted_plan_plans_and_applies_only_that_user(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    planned = ws.run("plan", "--target", "user:E1", "--out", "plan.json", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    out = planned.stdout
    assert "Warning: this plan is partial (targets: user:E1)" in out
    assert "create user E1" in out and "E2" not in out and "amir" not in out
    doc = json.loads((ws.path / "plan.json").read_text())
    assert doc["targets"] == ["user:E1"]
    assert {a["id"] for a in doc["actions"]} == {
        "create:user:E1",
        "add_members:group:Support",
        "add_members:group:Support Tier1",
    }
    assert ws.run("show", "plan.json").stdout == out
    markdown = ws.run("show", "plan.json", "--format", "markdown").stdout
    assert "this plan is partial" in markdown
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stderr
    assert {u["userName"] for u in emu.users()} == {"jane@example.com"}
    assert set(db(ws.state, "SELECT group_name, user_key FROM memberships")) == {
        ("Support", "E1"),
        ("Support Tier1", "E1"),
    }
    assert ws.run("plan", "--out", "rest.json").returncode == 0
    rest_doc = json.loads((ws.path / "rest.json").read_text())
    assert rest_doc["targets"] == []
    assert {a["id"] for a in rest_doc["actions"]} == {
        "create:user:E2",
        "add_members:group:Support",
    }
    assert [m["key"] for m in rest_doc["actions"][1]["members"]] == ["E2"]
    assert ws.run("apply", "rest.json").returncode == 0
    assert ws.run("plan", "--detailed-exitcode").returncode == 0


def test_targeted_group_brings_the_creates_it_needs_and_nothing_else(workspace):
    ws = workspace
    ws.write_manifest(manifest())
    planned = ws.run("plan", "--target", "group:Support", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    ids = {a["id"] for a in json.loads((ws.path / "plan.json").read_text())["actions"]}
    assert ids == {"create:user:E1", "create:user:E2", "add_members:group:Support"}
    assert ws.run("apply", "plan.json").returncode == 0
    assert ws.emulator.member_names("Support Tier1") == set()
    assert ws.run("plan", "--out", "next.json").returncode == 0
    ids = {a["id"] for a in json.loads((ws.path / "next.json").read_text())["actions"]}
    assert ids == {"add_members:group:Support Tier1"}


def test_unknown_target_is_one_clear_error(workspace):
    ws = workspace
    ws.write_manifest(manifest())
    for bad in ("user:nobody", "group:Nope", "E1"):
        result = ws.run("plan", "--target", bad)
        assert result.returncode == 1 and "--target" in result.stderr
        assert "Traceback" not in result.stderr


# -- drift --------------------------------------------------------------------------------


def test_drift_reports_hand_changes_and_plan_marks_their_revert(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    clean = ws.run("drift", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No drift" in clean.stdout

    jane, amir = by_name(emu, "jane@example.com"), by_name(emu, "amir@example.com")
    with emu.http() as h:
        h.patch(
            f"/api/v2/scim/v2/Users/{jane['id']}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "title", "value": "Boss"}],
            },
        ).raise_for_status()
        support = emu.group("Support")
        h.patch(
            f"/api/v2/scim/v2/Groups/{support['id']}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "remove", "path": f'members[value eq "{amir["id"]}"]'}],
            },
        ).raise_for_status()
    changed_at = by_name(emu, "jane@example.com")["meta"]["lastModified"]
    # Shown in the one format people read: whole seconds, UTC, Z.
    changed_at = iso(datetime.fromisoformat(changed_at))

    text = ws.run("drift", "--detailed-exitcode")
    assert text.returncode == 2, text.stderr
    assert "2 changes made outside scimctl" in text.stdout
    assert f'~ E1 (jane@example.com) title: "Agent" -> "Boss"  (changed {changed_at})' in (
        text.stdout
    )
    assert 'E2 (amir@example.com) group:Support: "member" -> "removed"' in text.stdout
    doc = json.loads(ws.run("drift", "--format", "json").stdout)
    assert doc["drift"] is True
    title = next(c for c in doc["changes"] if c["attribute"] == "title")
    assert (title["key"], title["before"], title["after"], title["changed_at"]) == (
        "E1",
        "Agent",
        "Boss",
        changed_at,
    )
    markdown = ws.run("drift", "--format", "markdown").stdout
    assert '| E1 (jane@example.com) | title | "Agent" | "Boss" |' in markdown

    planned = ws.run("plan", "--out", "plan.json")
    assert "reverts a change made in Genesys: title" in planned.stdout
    update = next(
        a for a in json.loads((ws.path / "plan.json").read_text())["actions"] if a["key"] == "E1"
    )
    assert {"kind": "reverts_drift", "subject": "title", "privileged": False} in update["effects"]
    assert ws.run("apply", "plan.json").returncode == 0
    assert ws.run("drift", "--detailed-exitcode").returncode == 0


def test_key_lengths_are_bounded_with_a_located_error(workspace):
    ws = workspace
    long_key = "K" * 256
    long_name = "a" * 250 + "@example.com"
    ws.write_manifest({"users": [user(long_key, "ok@example.com"), user("E1", long_name)]})
    result = ws.run("validate")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "2 problems found" in result.stderr
    assert "at most 255 characters" in result.stderr and "at most 254 characters" in result.stderr
