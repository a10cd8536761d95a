"""Review through the real CLI against the emulator: one renderer, risky actions first,
redaction that keeps review possible, and directory data that cannot forge output."""

from __future__ import annotations

import json

import pytest
from conftest import BASE_SEED, user

from scimctl.plan.render import GITHUB_COMMENT_LIMIT

SEED_ROLES = [
    *BASE_SEED["roles"],
    {"name": "User Admin", "permissions": ["directory:user:add", "directory:user:view"]},
]


def seed_users(*users: dict) -> list[dict]:
    return [{"active": True, **u} for u in users]


def review_world(seeded):
    """A directory and manifest where a plan has something of every risk level."""
    ws = seeded(
        seed_users(
            {"userName": "old@example.com", "displayName": "Old", "externalId": "E7",
             "roles": ["Employee"], "division": "Home"},
            {"userName": "lee@example.com", "displayName": "Lee", "externalId": "E8",
             "title": "Agent", "groups": ["Sales"], "roles": ["Employee"], "division": "Home"},
            {"userName": "it@example.com", "displayName": "IT"},
        )
    )  # fmt: skip
    ws.emulator.directory.add_role("User Admin", ["directory:user:add"], "")
    ws.write_manifest(
        {
            "defaults": {"roles": ["Employee"], "division": "Home"},
            "policy": {"max_deprovision": "1"},
            "groups": [{"name": "Support"}, {"name": "Sales"}],
            "users": [
                user("E1", "jane@example.com", title="Agent", department="Support",
                     phoneNumbers=[{"type": "work", "value": "+12125550147"}],
                     groups=["Support"]),
                user("E2", "amir@example.com", roles=["Employee", "User Admin"]),
                user("E7", "old@example.com", displayName="Old", active=False),
                user("E8", "lee@example.com", displayName="Lee", title="Lead"),
            ],
        }
    )  # fmt: skip
    return ws


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
@pytest.mark.parametrize("redact", [False, True])
def test_plan_and_show_of_its_file_print_the_same_bytes(seeded, fmt, redact):
    ws = review_world(seeded)
    flags = ["--redact"] if redact else []
    planned = ws.run("plan", "--out", "plan.json", "--format", fmt, *flags)
    assert planned.returncode == 0, planned.stderr
    assert "Saved the plan to plan.json" in planned.stderr
    assert "Saved the plan" not in planned.stdout
    shown = ws.run("show", "plan.json", "--format", fmt, *flags)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == planned.stdout
    if fmt != "json":
        assert "adopt user E7" in planned.stdout and "User Admin" in planned.stdout
        assert ("+12125550147" in planned.stdout) is not redact


def test_redact_out_writes_a_masked_file_that_shows_what_changes(seeded):
    ws = review_world(seeded)
    planned = ws.run("plan", "--out", "plan.json", "--redact-out")
    assert planned.returncode == 0, planned.stderr
    saved = (ws.path / "plan.json").read_text()
    assert "+12125550147" not in saved
    doc = json.loads(saved)
    assert doc["review"] == {"redact": ["phoneNumbers", "workEmail"], "redacted": True}
    jane = next(a for a in doc["actions"] if a["key"] == "E1")
    assert jane["changes"]["phoneNumbers"]["after"] == [["work", "***"]]
    assert jane["changes"]["title"]["after"] == "Agent"
    assert ws.run("show", "plan.json").stdout == planned.stdout
    assert "Redacted: phoneNumbers, workEmail are masked." in planned.stdout


def test_plan_leads_with_the_actions_that_need_review(seeded):
    ws = review_world(seeded)
    text = ws.run("plan").stdout
    review, rest = text.split("scimctl will perform these other actions:")
    assert "Needs review: 3 actions" in review
    assert "<= adopt user E7 (old@example.com)" in review
    assert "effects: deactivation; adoption" in review
    assert "+ create user E2 (amir@example.com)" in review
    assert "effects: privileged role granted: User Admin" in review
    assert "~ update user E8" not in text  # E8's title is an edit: not risky
    assert "<= adopt user E8 (lee@example.com)" in rest
    assert "- remove 1 member from group 'Sales'" in review
    assert "+ create user E1 (jane@example.com)" in rest
    assert (
        "Effects: 1 deactivation (1 through adoption), 1 privileged role granted, "
        "2 non-privileged roles granted, 1 removal from a group, 2 adoptions." in text
    )
    assert "Left alone: 1 live user and 0 group memberships" in text


def test_300_user_comment_fits_github_and_keeps_both_risky_actions(seeded):
    old = {"userName": "old@example.com", "displayName": "Old", "externalId": "E0"}
    ws = seeded(seed_users({**old, "roles": ["Employee", "Agent"], "division": "Home"}))
    ws.emulator.directory.add_role("User Admin", ["directory:user:add"], "")
    rows = "\n".join(
        f"N{i:03},new.person.{i}@example.com,Person Number {i},Customer Support Agent,"
        f"Customer Support,+1212555{i:04}"
        for i in range(300)
    )
    (ws.path / "hr.csv").write_text("id,mail,name,title,dept,phone\n" + rows + "\n")
    ws.write_manifest(
        {
            "defaults": {"roles": ["Employee", "Agent"], "division": "Home"},
            "policy": {"max_deprovision": "1"},
            "groups": [{"name": "Support"}],
            "users": [
                user("E0", "old@example.com", displayName="Old", active=False),
                user("E1", "root@example.com", roles=["Employee", "User Admin"]),
            ],
            "sources": [
                {
                    "csv": "hr.csv",
                    "map": {
                        "externalId": "{{ row.id }}",
                        "userName": "{{ row.mail }}",
                        "displayName": "{{ row.name }}",
                        "title": "{{ row.title }}",
                        "department": "{{ row.dept }}",
                        "phoneNumbers": "work:{{ row.phone }}",
                        "groups": "Support",
                    },
                }
            ],
        }
    )
    result = ws.run("plan", "--format", "markdown", "--out", "plan.json")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert len(md) <= GITHUB_COMMENT_LIMIT
    review = md[md.index("#### Needs review (2)") : md.index("#### Other actions")]
    assert "adopt user E0 (old@example.com) | deactivation; adoption |" in review
    assert "create user E1 (root@example.com) | privileged role granted: User Admin" in review
    assert "**Effects: 1 deactivation (1 through adoption), 1 privileged role granted," in md
    # It had to cut: only creates and additions went, and it says how to see them.
    assert "under the 65,536-character comment limit: " in md
    assert " of 300 `create`" in md and "1 of 1 `add_members`" in md
    assert "nothing that needs review is left out" in md
    assert "`scimctl show plan.json`" in md
    full = ws.run("show", "plan.json").stdout
    assert full.count("+ create user N") == 300


def test_deactivations_through_adoption_count_against_max_deprovision(seeded):
    ws = seeded(
        seed_users(
            *({"userName": f"u{i}@example.com", "displayName": f"U{i}", "externalId": f"E{i}"}
              for i in range(8))
        )
    )  # fmt: skip
    ws.write_manifest(
        {
            "policy": {"max_deprovision": "5"},
            "users": [
                user(f"E{i}", f"u{i}@example.com", displayName=f"U{i}", active=False)
                for i in range(8)
            ],
        }
    )
    refused = ws.run("plan")
    assert refused.returncode == 1
    assert (
        "refusing to deactivate or delete 8 users (8 through adoption): the limit is 5"
        in refused.stderr
    )
    allowed = ws.run("plan", "--max-deprovision", "8")
    assert allowed.returncode == 0, allowed.stderr
    assert "Effects: 8 deactivations (8 through adoption), 8 adoptions." in allowed.stdout


def test_odd_directory_values_cannot_forge_lines_or_table_rows(seeded):
    evil = "Agent\n  - delete user CEO (ceo@example.com)|\x1b[31m\u202e"
    ws = seeded(
        seed_users({"userName": "a@example.com", "displayName": "A", "externalId": "E1",
                    "title": evil})
    )  # fmt: skip
    ws.write_manifest({"users": [user("E1", "a@example.com", displayName="A", title="Lead")]})
    text = ws.run("plan").stdout
    assert not any(line.lstrip().startswith("- delete") for line in text.splitlines())
    assert "\x1b" not in text and "\u202e" not in text
    assert '"Agent\\n  - delete user CEO (ceo@example.com)|\\u001b[31m\\u202e"' in text
    md = ws.run("plan", "--format", "markdown").stdout
    (row,) = [line for line in md.splitlines() if "adopt user E1" in line]
    assert "\\|\\\\u001b" in row and not any(line.startswith("| - |") for line in md.splitlines())
