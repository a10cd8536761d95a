"""examples/hris: a realistic export validates, applies, and then plans no changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from conftest import Workspace

from scimctl.scim.schema import ENTERPRISE_USER

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hris"


def _workspace(tmp_path, start_emulator, sqlite_url) -> Workspace:
    seed = yaml.safe_load((EXAMPLE / "seed.yaml").read_text(encoding="utf-8"))
    emu = start_emulator(seed)
    for name in ("scimctl.yaml", "export.csv"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    manifest = tmp_path / "scimctl.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("http://127.0.0.1:9104", emu.url), encoding="utf-8")
    return Workspace(tmp_path, emu, sqlite_url)


def test_hris_example_applies_and_then_has_no_changes(tmp_path, start_emulator, sqlite_url):
    ws = _workspace(tmp_path, start_emulator, sqlite_url)
    valid = ws.run("validate")
    assert valid.returncode == 0, valid.stderr
    assert "Valid: 219 users, 6 groups" in valid.stdout
    planned = ws.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    assert "Plan: 218 to create, 1 to re-key, 6 groups gaining members." in planned.stdout
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    users = {u["externalId"]: u for u in ws.emulator.users()}
    assert len(users) == 219
    assert "W1099" not in users and users["W2001"]["active"] is True  # the rehire, re-keyed
    lead = users["W1002"]  # Support Tier2 lead, who reports to the director W1000
    assert users["W2001"][ENTERPRISE_USER]["manager"] == {"value": lead["id"]}
    assert lead[ENTERPRISE_USER]["manager"] == {"value": users["W1000"]["id"]}
    phones = {p["value"] for u in users.values() for p in u.get("phoneNumbers", [])}
    assert "tel:+12125550100;ext=100" in phones
    assert any(p.startswith("+44207946") for p in phones)
    on_leave = {u["userName"] for u in users.values() if not u["active"]}
    assert on_leave
    for group in ("Customer Support", "Support Tier1", "Support Tier2", "Sales"):
        assert not on_leave & ws.emulator.member_names(group)


def test_renamed_column_is_exactly_one_error_line(tmp_path, start_emulator, sqlite_url):
    ws = _workspace(tmp_path, start_emulator, sqlite_url)
    export = tmp_path / "export.csv"
    export.write_bytes(export.read_bytes().replace(b"Work Email", b"Email Address", 1))
    result = ws.run("validate")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: 1 problem found:",
        "  export.csv: row 1: column 'Work Email' (used by userName) is not in the header; "
        "the columns are: 'Employee ID', 'First Name', 'Last Name', 'Email Address', "
        "'Job Title', 'Department', 'Team', 'Manager ID', 'Status', 'Hire Date', 'Country', "
        "'Work Phone', 'Mobile Phone', 'Skills', 'Languages', 'Previous Employee ID'",
    ]
