"""policy.rules end to end: plan blocks a new conflict, an exception lets it through
until it ends, apply refuses a saved plan edited to add the role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import BASE_SEED, Workspace, user

from scimctl.plan import integrity

SEED = {
    **BASE_SEED,
    "roles": [
        *BASE_SEED["roles"],
        {"name": "Payroll Approver", "permissions": ["payroll:run:approve"]},
        {"name": "Payroll Clerk", "permissions": ["payroll:run:add"]},
    ],
}
DAY = "2026-12-05"
RULES = {
    "rules": [
        {"id": "SOD-1", "description": "who approves payroll does not also pay it",
         "conflict": ["Payroll Approver", "Payroll Clerk"]},
    ]
}  # fmt: skip
EXCEPTION = {"rule": "SOD-1", "user": "E1", "reason": "covering Bob's leave",
             "until": "2026-12-12", "approved_by": "CFO Carol"}  # fmt: skip


@pytest.fixture
def ws(start_emulator, tmp_path, sqlite_url) -> Workspace:
    return Workspace(tmp_path, start_emulator(SEED), sqlite_url)


def manifest(ws: Workspace, roles: list[str], *exceptions: dict) -> Path:
    return ws.write_manifest(
        {
            "policy": {**RULES, "exceptions": list(exceptions)},
            "users": [
                user("E1", "ann@example.com", roles=roles),
                user("E2", "bob@example.com", roles=["Employee", "Payroll Clerk"]),
            ],
        }
    )


def line_of_user(path: Path, key: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if f"externalId: {key}" in text)


def test_conflict_blocks_the_plan_until_an_exception_allows_it(ws: Workspace):
    manifest(ws, ["Employee", "Payroll Approver"])
    first = ws.run("plan", "--out", "plan.json", "--as-of", DAY)
    assert first.returncode == 0, first.stderr
    assert ws.run("apply", "plan.json", "--as-of", DAY).returncode == 0

    path = manifest(ws, ["Employee", "Payroll Approver", "Payroll Clerk"])
    blocked = ws.run("plan", "--out", "blocked.json", "--as-of", DAY)
    assert blocked.returncode == 1
    line = line_of_user(path, "E1")
    assert (
        f"SOD-1 user E1: holds Payroll Approver and Payroll Clerk (scimctl.yaml:{line})"
        in blocked.stderr
    )
    assert "Rule violations this plan would create (1; cannot be applied)" in blocked.stdout
    assert not (ws.path / "blocked.json").exists()

    manifest(ws, ["Employee", "Payroll Approver", "Payroll Clerk"], EXCEPTION)
    ok = ws.run("plan", "--out", "plan.json", "--format", "markdown", "--as-of", DAY)
    assert ok.returncode == 0, ok.stderr
    assert "#### Exceptions (1, as of 2026-12-05" in ok.stdout
    assert (
        "| expiring | SOD-1 | E1 | 2026-12-12 (7 days left) | CFO Carol | covering Bob's leave |"
        in ok.stdout
    )
    late = ws.run("plan", "--as-of", "2026-12-13")
    assert late.returncode == 1
    assert "SOD-1 user E1: holds Payroll Approver and Payroll Clerk" in late.stderr
    assert "exception expired 2026-12-12" in late.stdout

    # The excepted plan applies; afterwards the conflict exists and is for review only.
    applied = ws.run("apply", "plan.json", "--as-of", DAY)
    assert applied.returncode == 0, applied.stderr
    again = ws.run("plan", "--as-of", "2026-12-13", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Needs review: rule violations that exist now (1; not blocking):" in again.stdout


def test_apply_refuses_a_saved_plan_edited_to_add_the_second_role(ws: Workspace):
    manifest(ws, ["Employee", "Payroll Approver"])
    assert ws.run("plan", "--out", "plan.json", "--as-of", DAY).returncode == 0
    doc = json.loads((ws.path / "plan.json").read_text())
    [create] = [a for a in doc["actions"] if a["key"] == "E1"]
    create["changes"]["roles"]["after"] = ["Employee", "Payroll Approver", "Payroll Clerk"]
    body = {k: v for k, v in doc.items() if k not in integrity.SEAL_FIELDS}
    (ws.path / "plan.json").write_text(json.dumps(integrity.seal(body)))  # resealed by hand
    refused = ws.run("apply", "plan.json", "--as-of", DAY)
    assert refused.returncode == 1
    assert "policy.rules SOD-1: user E1 holds Payroll Approver and Payroll Clerk" in refused.stderr
    assert ws.emulator.directory.users == {}  # nothing was created


def test_a_manifest_edited_after_review_cannot_drop_the_rule(ws: Workspace):
    path = manifest(ws, ["Employee", "Payroll Approver", "Payroll Clerk"], EXCEPTION)
    assert ws.run("plan", "--out", "plan.json", "--as-of", DAY).returncode == 0
    doc = yaml.safe_load(path.read_text())
    doc["policy"]["exceptions"][0]["until"] = "2030-01-01"  # stretched after review
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    refused = ws.run("apply", "plan.json", "--as-of", DAY)
    assert refused.returncode == 1
    assert "manifest" in refused.stderr


def test_a_conflict_over_role_x_division_grants(start_emulator, tmp_path, sqlite_url):
    from e2e.test_grants import SEED as GRANTS_SEED

    ws = Workspace(tmp_path, start_emulator(GRANTS_SEED), sqlite_url)
    rule = {"id": "SOD-2", "description": "agents do not supervise Sales",
            "conflict": ["Agent", {"role": "Supervisor", "division": "Sales"}]}  # fmt: skip

    def write(division: str) -> None:
        role = {"name": "Supervisor", "divisions": [division]}
        ws.write_manifest(
            {"policy": {"rules": [rule]},
             "users": [user("S1", "sam@example.com", roles=["Agent", role])]}
        )  # fmt: skip

    write("Support")  # Supervisor in Support: allowed
    planned = ws.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert ws.run("apply", "plan.json").returncode == 0
    write("Sales")
    blocked = ws.run("plan")
    assert blocked.returncode == 1
    assert "SOD-2 user S1: holds Agent and Supervisor in Sales (scimctl.yaml:" in blocked.stderr

    report = json.loads(ws.run("report", "access", "--user", "S1").stdout)
    roles = {r["name"]: r for r in report["access"] if r["kind"] == "role"}
    assert set(roles) == {"Agent", "Supervisor in Support"}
    assert roles["Supervisor in Support"]["change"] == "grants"
    assert roles["Supervisor in Support"]["run"] == roles["Agent"]["run"]
