"""The installed ``scimctl`` command against the emulator over loopback HTTP."""

from __future__ import annotations

import json

import sqlalchemy as sa
from conftest import CLIENT_SECRET, user

from scimctl.plan.render import GITHUB_COMMENT_LIMIT


def base_manifest(**extra):
    return {
        "defaults": {"roles": ["Employee"], "division": "Home"},
        "groups": [
            {"name": "Support"},
            {"name": "Support Tier1", "parent": "Support"},
            {"name": "Sales"},
        ],
        "users": [
            user(
                "E1",
                "jane@example.com",
                title="Agent",
                roles=["Employee", "Agent"],
                groups=["Support Tier1"],
            ),
            user("E2", "amir@example.com", department="Sales", groups=["Sales"]),
        ],
        **extra,
    }


def db_rows(url: str, table: str) -> list[dict]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    engine.dispose()
    return rows


def test_plan_apply_and_plan_again(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(base_manifest())
    planned = ws.run("plan", "--out", "plan.json", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "+ create user E1 (jane@example.com)" in planned.stdout
    assert "Plan: 2 to create, 3 groups gaining members." in planned.stdout

    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stderr
    assert "5 of 5 operations succeeded" in applied.stdout

    users = {u["userName"]: u for u in emu.users()}
    assert set(users) == {"jane@example.com", "amir@example.com"}
    jane = users["jane@example.com"]
    assert jane["externalId"] == "E1" and jane["title"] == "Agent"
    assert sorted(r["value"] for r in jane["roles"]) == ["Agent", "Employee"]
    assert emu.member_names("Support Tier1") == {"jane@example.com"}
    assert emu.member_names("Support") == {"jane@example.com"}
    assert emu.member_names("Sales") == {"amir@example.com"}

    managed = {r["key"]: r for r in db_rows(ws.state, "managed_users")}
    assert managed["E1"]["live_id"] == jane["id"]
    assert managed["E2"]["user_name"] == "amir@example.com"
    memberships = {(r["group_name"], r["user_key"]) for r in db_rows(ws.state, "memberships")}
    assert memberships == {("Support Tier1", "E1"), ("Support", "E1"), ("Sales", "E2")}

    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout


def test_update_deprovision_and_unmanaged_users(seeded):
    ws = seeded([{"userName": "it@example.com", "displayName": "IT", "groups": ["Sales"]}])
    emu = ws.emulator
    ws.write_manifest(base_manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    changed = base_manifest(policy={"max_deprovision": "1"})
    changed["users"] = [
        user("E1", "jane@example.com", title="Lead", roles=["Employee", "Agent"], groups=["Sales"])
    ]
    ws.write_manifest(changed)
    planned = ws.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    out = planned.stdout
    assert "~ update user E1 (jane@example.com)" in out and '"Agent" -> "Lead"' in out
    assert "- deactivate user E2 (amir@example.com)" in out
    assert "- remove 1 member from group 'Support'" in out
    assert "Left alone: 1 live user and 1 group membership that" in out
    assert ws.run("apply", "plan.json").returncode == 0
    users = {u["userName"]: u for u in emu.users()}
    assert users["amir@example.com"]["active"] is False
    assert users["jane@example.com"]["title"] == "Lead"
    assert emu.member_names("Sales") == {"it@example.com", "jane@example.com"}
    assert emu.member_names("Support") == set()
    assert ws.run("plan", "--detailed-exitcode").returncode == 0


def test_adopted_members_are_recorded_as_managed(seeded):
    old = {"userName": "old@example.com", "displayName": "Old", "externalId": "E7"}
    ws = seeded([{**old, "groups": ["Sales"]}])
    emu = ws.emulator
    ws.write_manifest(
        {
            "groups": [{"name": "Sales"}],
            "users": [user("E7", "old@example.com", displayName="Old", groups=["Sales"])],
        }
    )
    planned = ws.run("plan")
    assert "adopt user E7" in planned.stdout and "members" not in planned.stdout
    assert ws.run("apply", "--auto-approve").returncode == 0
    assert ("Sales", "E7") in {
        (r["group_name"], r["user_key"]) for r in db_rows(ws.state, "memberships")
    }
    shown = json.loads(ws.run("state", "show", "E7", "--format", "json").stdout)
    assert shown["groups"] == ["Sales"]
    ws.write_manifest(
        {"groups": [{"name": "Sales"}], "users": [user("E7", "old@example.com", displayName="Old")]}
    )
    assert "remove 1 member from group 'Sales'" in ws.run("plan").stdout
    assert ws.run("apply", "--auto-approve").returncode == 0
    assert db_rows(ws.state, "memberships") == []
    assert emu.member_names("Sales") == set()


def test_inactive_live_users_are_reactivated_not_created(seeded):
    ws = seeded(
        [
            {
                "userName": "back@example.com",
                "displayName": "Back",
                "externalId": "E9",
                "active": False,
            },
            {
                "userName": "off@example.com",
                "displayName": "Off",
                "externalId": "E8",
                "active": False,
            },
        ]
    )
    emu = ws.emulator
    ws.write_manifest(
        {
            "users": [
                user("E9", "back@example.com", displayName="Back"),
                user("E8", "off@example.com", displayName="Off", active=False),
            ]
        }
    )
    planned = ws.run("plan")
    assert planned.returncode == 0, planned.stderr
    assert "adopt user E9" in planned.stdout and "active : false -> true" in planned.stdout
    assert "create" not in planned.stdout
    assert ws.run("apply", "--auto-approve").returncode == 0
    users = emu.users()
    assert len(users) == 2
    assert {u["userName"]: u["active"] for u in users} == {
        "back@example.com": True,
        "off@example.com": False,
    }
    assert ws.run("plan", "--detailed-exitcode").returncode == 0


def test_every_directory_problem_is_reported_with_exit_1(workspace):
    ws = workspace
    ws.write_manifest(
        {
            "groups": [{"name": "Support"}, {"name": "Ghost Group"}],
            "users": [
                user("E1", "jane@example.com", roles=["Agent", "Nope"], groups=["Ghost Group"]),
                user("E2", "boss@example.com", roles=["Master Admin"]),
            ],
        }
    )
    result = ws.run("plan")
    assert result.returncode == 1
    err = result.stderr
    assert "Traceback" not in err
    assert "3 problems found" in err or "4 problems found" in err, err
    assert "scimctl.yaml:" in err
    assert "role 'Nope' does not exist" in err
    assert (
        "role 'Master Admin' grants 'authorization:grant:add'" in err and "boss@example.com" in err
    )
    assert "group 'Ghost Group' does not exist" in err


def test_validate_reports_all_offline_errors(workspace):
    ws = workspace
    (ws.path / "hr.csv").write_text("id,mail\n1,a@example.com\n2,broken\n")
    ws.write_manifest(
        {
            "groups": [{"name": "A", "parent": "B"}, {"name": "B", "parent": "A"}],
            "users": [user("E1", "x@example.com", groups=["Z"]), user("E1", "y@example.com")],
            "sources": [
                {
                    "csv": "hr.csv",
                    "map": {
                        "externalId": "{{ row.id }}",
                        "userName": "{{ row.mail }}",
                        "displayName": "{{ row.name }}",
                    },
                }
            ],
        }
    )
    result = ws.run("validate")
    assert result.returncode == 1
    err = result.stderr
    assert "cycle: A -> B -> A" in err
    assert "groups: unknown group 'Z'" in err
    assert "externalId: 'E1' is also used at" in err
    # a missing column is one error, and the rows' other problems are still reported
    assert "hr.csv: row 1: column 'name' (used by displayName) is not in the header" in err
    assert "hr.csv: row 3: userName: 'broken' is not a valid email address" in err
    assert "hr.csv: row 2" not in err
    assert "Traceback" not in err


def test_show_formats_redaction_and_no_secrets(workspace):
    ws = workspace
    ws.write_manifest(base_manifest())
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    text = ws.run("show", "plan.json")
    assert text.returncode == 0 and "+ create user E1 (jane@example.com)" in text.stdout
    doc = json.loads(ws.run("show", "plan.json", "--format", "json").stdout)
    assert doc["format_version"] == 2 and doc["state"] == {"lineage": "", "serial": 0}
    assert doc["manifest_digest"].startswith("sha256:")
    md = ws.run("show", "plan.json", "--format", "markdown", "--redact").stdout
    assert md.startswith("### scimctl plan") and "**Plan: 2 to create, " in md
    # Contact data is masked by default; names, titles and roles stay reviewable.
    assert "redacted: phoneNumbers, workEmail" in md and "jane@example.com" in md
    assert '"Agent"' in md
    plan_text = (ws.path / "plan.json").read_text()
    assert CLIENT_SECRET not in plan_text and "access_token" not in plan_text
    # Same inputs, same bytes; and `plan --format json` prints the saved document.
    again = ws.run("plan", "--out", "again.json", "--format", "json")
    assert (ws.path / "again.json").read_text() == plan_text == again.stdout


def test_markdown_of_a_10000_change_plan_fits_github(workspace):
    ws = workspace
    rows = "\n".join(f"{i},user{i}@example.com,User {i}" for i in range(10_000))
    (ws.path / "hr.csv").write_text("id,mail,name\n" + rows + "\n")
    ws.write_manifest(
        {
            "groups": [{"name": "Sales"}],
            "sources": [
                {
                    "csv": "hr.csv",
                    "map": {
                        "externalId": "{{ row.id }}",
                        "userName": "{{ row.mail }}",
                        "displayName": "{{ row.name }}",
                        "groups": "Sales",
                    },
                }
            ],
        }
    )
    result = ws.run("plan", "--format", "markdown", "--out", "plan.json")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert len(md) <= GITHUB_COMMENT_LIMIT
    assert "**Plan: 10,000 to create, 1 group gaining members.**" in md
    assert "limit: " in md and " of 10000 `create`, 1 of 1 `add_members`" in md


def test_plans_are_recorded_as_runs_with_ci_context(workspace):
    ws = workspace
    ws.write_manifest(base_manifest())
    env = {
        "GITHUB_REPOSITORY": "acme/people",
        "GITHUB_SHA": "abc123",
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_ACTOR": "octocat",
    }
    assert ws.run("plan", **env).returncode == 0
    (run,) = db_rows(ws.state, "runs")
    assert run["kind"] == "plan" and run["actor"] == "octocat" and run["outcome"] == "changes"
    ci = run["ci"] if isinstance(run["ci"], dict) else json.loads(run["ci"])
    assert ci["repository"] == "acme/people" and ci["commit"] == "abc123"
    assert ci["pull_request"] == "42"


def test_stale_plan_is_refused(workspace):
    ws = workspace
    ws.write_manifest(base_manifest())
    assert ws.run("plan", "--out", "first.json").returncode == 0
    assert ws.run("plan", "--out", "second.json").returncode == 0
    assert ws.run("apply", "first.json").returncode == 0
    stale = ws.run("apply", "second.json")
    assert stale.returncode == 1
    assert "run plan again" in stale.stderr and "serial 0" in stale.stderr


def test_deprovision_guard_and_override(workspace):
    ws = workspace
    ws.write_manifest(base_manifest())
    assert ws.run("apply", "--auto-approve").returncode == 0
    ws.write_manifest(base_manifest(users=[], policy={"max_deprovision": "10%"}))
    refused = ws.run("plan")
    assert refused.returncode == 1
    assert "refusing to deactivate or delete 2 users" in refused.stderr
    assert "--max-deprovision 2" in refused.stderr
    assert ws.run("plan", "--max-deprovision", "2").returncode == 0


def test_apply_without_a_terminal_refuses_to_ask(workspace):
    ws = workspace
    ws.write_manifest(base_manifest())
    result = ws.run("apply")
    assert result.returncode == 1
    assert "no terminal to ask for approval" in result.stderr
    assert workspace.emulator.users() == []


def test_bad_credentials_are_a_clear_error(workspace):
    ws = workspace
    ws.write_manifest(base_manifest())
    result = ws.run("plan", GENESYS_CLIENT_SECRET="wrong")
    assert result.returncode == 1
    assert "invalid_client" in result.stderr and "GENESYS_CLIENT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_apply_refuses_a_plan_for_a_changed_manifest(workspace):
    ws = workspace
    ws.write_manifest(base_manifest())
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    changed = base_manifest()
    changed["users"][0]["title"] = "Lead"
    ws.write_manifest(changed)
    result = ws.run("apply", "plan.json", "-m", "scimctl.yaml")
    assert result.returncode == 1
    assert "the manifest changed since the plan was made" in result.stderr
    assert ws.emulator.users() == []
    other = base_manifest()
    (ws.path / "other.yaml").write_text(
        json.dumps({"version": 1, "target": {"api_url": "http://127.0.0.1:9"}, **other})
    )
    elsewhere = ws.run("apply", "plan.json", "-m", "other.yaml")
    assert elsewhere.returncode == 1
    assert "'http://127.0.0.1:9' in the manifest" in elsewhere.stderr
    broken = ws.path / "broken.json"
    broken.write_text('{"format_version": 99}')
    bad = ws.run("show", str(broken))
    assert bad.returncode == 1 and "in plan format 99; this is scimctl" in bad.stderr
