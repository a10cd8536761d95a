"""report access and report rules: who held what on a day, from the history."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from conftest import Workspace, user

from e2e.test_governance_e2e import SEED, line_of_user

RULES = [
    {"id": "SOD-1", "description": "who approves payroll does not also pay it",
     "conflict": ["Payroll Approver", "Payroll Clerk"]},
    {"id": "ADM-1", "description": "one agent at most", "role": "Agent", "max": 1},
]  # fmt: skip
EXCEPTION = {"rule": "SOD-1", "user": "ann@example.com", "reason": "covering Bob's leave",
             "until": "2099-12-31", "approved_by": "CFO Carol"}  # fmt: skip


@pytest.fixture
def ws(start_emulator, tmp_path, sqlite_url) -> Workspace:
    return Workspace(tmp_path, start_emulator(SEED), sqlite_url)


def manifest(ws: Workspace, ann: list[str], bob: list[str], *exceptions: dict) -> None:
    ws.write_manifest(
        {
            "groups": [{"name": "Support"}, {"name": "Sales"}],
            "policy": {"rules": RULES, "exceptions": list(exceptions)},
            "users": [
                user("E1", "ann@example.com", roles=ann, groups=["Support"]),
                user("E2", "bob@example.com", roles=bob, groups=["Sales"]),
            ],
        }
    )


def apply_on(ws: Workspace, day: str) -> str:
    """Plan and apply, then date the run's journal rows to ``day`` (the clock is real)."""
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    done = ws.run("apply", "plan.json")
    assert done.returncode == 0, done.stdout + done.stderr
    db = sqlite3.connect(ws.state.removeprefix("sqlite:///"))
    (run,) = db.execute(
        "select id from runs where kind='apply' order by started_at desc"
    ).fetchone()
    db.execute("update operations set at = ? where run_id = ?", (f"{day} 10:00:00.000000", run))
    db.commit()
    db.close()
    return run


def access(ws: Workspace, *args: str) -> dict:
    done = ws.run("report", "access", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def held(doc: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in doc["access"]:
        out.setdefault(row["user"], []).append(f"{row['kind']}:{row['name']}")
    return out


def test_access_on_a_day_between_two_applies_matches_the_history(ws: Workspace):
    manifest(ws, ["Employee", "Payroll Approver"], ["Employee"])
    first = apply_on(ws, "2026-06-01")
    manifest(
        ws, ["Employee", "Payroll Approver", "Payroll Clerk"], ["Employee", "Agent"], EXCEPTION
    )
    second = apply_on(ws, "2026-07-01")

    assert access(ws, "--as-of", "2026-05-31")["access"] == []  # before the first apply
    june = access(ws, "--as-of", "2026-06-15")
    assert held(june) == {
        "E1": ["role:Employee", "role:Payroll Approver", "group:Support"],
        "E2": ["role:Employee", "group:Sales"],
    }
    assert june["summary"]["accounts"] == 2
    assert june["summary"]["holders_per_role"] == {"Employee": 2, "Payroll Approver": 1}
    approver = next(r for r in june["access"] if r["name"] == "Payroll Approver")
    assert (approver["since"], approver["run"], approver["change"]) == (
        "2026-06-01T10:00:00Z", first, "create",
    )  # fmt: skip
    assert approver["where"] == f"scimctl.yaml:{line_of_user(ws.path / 'scimctl.yaml', 'E1')}"
    assert approver["exceptions"] == []

    july = access(ws, "--as-of", "2026-07-02")
    assert held(july)["E1"] == [
        "role:Employee", "role:Payroll Approver", "role:Payroll Clerk", "group:Support",
    ]  # fmt: skip
    clerk = next(r for r in july["access"] if r["name"] == "Payroll Clerk")
    assert (clerk["since"], clerk["run"], clerk["change"]) == (
        "2026-07-01T10:00:00Z",
        second,
        "update",
    )
    assert clerk["exceptions"] == [
        "SOD-1 until 2099-12-31, approved by CFO Carol: covering Bob's leave"
    ]
    # The same change as the history records it.
    history = json.loads(ws.run("history", "--user", "E1", "--format", "json").stdout)
    grant = next(h for h in history if h["run_id"] == second)
    assert "Payroll Clerk" in grant["changes"]["roles"]["after"]
    assert [(f["rule"], f["user"], f["status"]) for f in july["findings"]] == [
        ("SOD-1", "E1", "excepted")
    ]
    assert july["summary"]["violations"] == 0 and july["summary"]["exceptions"] == 1

    only = access(ws, "--as-of", "2026-07-02", "--role", "Payroll Clerk")
    assert held(only) == {"E1": ["role:Payroll Clerk"]} and only["summary"]["accounts"] == 1
    bob = access(ws, "--as-of", "2026-07-02", "--user", "BOB@example.com")
    assert set(held(bob)) == {"E2"}

    table = ws.run("report", "access", "--as-of", "2026-07-02", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == len(july["access"]) and rows[0]["user"] == "E1"

    rules = ws.run("report", "rules", "--as-of", "2026-07-02")
    assert rules.returncode == 0, rules.stderr
    lines = rules.stdout.splitlines()
    assert any(line.startswith("SOD-1\texcepted until 2099-12-31") for line in lines), lines
    assert any(line.startswith("ADM-1\tholding") for line in lines), lines
    as_json = json.loads(
        ws.run("report", "rules", "--as-of", "2026-07-02", "--format", "json").stdout
    )
    assert [(e["rule"], e["state"]) for e in as_json["exceptions"]] == [("SOD-1", "active")]


def test_a_report_before_any_apply_lists_nothing(ws: Workspace):
    manifest(ws, ["Employee"], ["Employee"])
    doc = access(ws)
    assert doc["access"] == [] and doc["summary"]["accounts"] == 0
    page = ws.run("report", "access", "--format", "html", "--out", "r.html")
    assert page.returncode == 0, page.stderr
    assert "No changes recorded by this day." in (ws.path / "r.html").read_text()
