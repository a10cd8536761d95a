"""scimctl import: a manifest that reproduces the directory, and a plan with no changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from conftest import BASE_SEED, Workspace

ROOT = Path(__file__).resolve().parents[2]


def org(n: int) -> list[dict]:
    """n users with a mix of departments, roles, groups and states, plus awkward ones."""
    users = []
    for i in range(n):
        u: dict[str, Any] = {
            "userName": f"person{i:05}@example.com",
            "displayName": f"Person {i}",
            "externalId": f"HR-{i:05}",
            "department": "Support" if i % 3 else "Sales",
            "division": "Home",
            "roles": ["Employee", "Agent"] if i % 4 else ["Employee"],
            "groups": ["Support"] if i % 3 else ["Sales"],
        }
        if i % 5 == 0:
            u["title"] = "Agent"
        if i % 7 == 0:
            u["active"] = False
        if i % 11 == 0:
            u["groups"] = [*u["groups"], "Support Tier1"]
        users.append(u)
    users.append({"userName": "nokey@example.com", "displayName": "No Key"})
    users.append(
        {
            "userName": "boss@example.com",
            "displayName": "Boss",
            "externalId": "HR-BOSS",
            "roles": ["Employee", "Master Admin"],
        }
    )
    return users


def test_import_round_trip_2000_users_then_plan_shows_no_changes(
    start_emulator, tmp_path, sqlite_url
):
    emu = start_emulator({**BASE_SEED, "users": org(2000)})
    ws = Workspace(tmp_path, emu, sqlite_url)
    result = ws.run("import", "--out", "imported.yaml", "--api-url", emu.url, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Wrote imported.yaml: 2,000 users, 3 groups" in result.stdout
    assert "nokey@example.com: no externalId (see --key-from)" in result.stderr
    assert "boss@example.com: holds Master Admin, denied by the default policy" in result.stderr

    text = (tmp_path / "imported.yaml").read_text()
    assert text.startswith("# Written by scimctl import")
    doc = yaml.safe_load(text)
    assert doc["defaults"] == {"division": "Home", "roles": ["Agent", "Employee"]}
    assert [u["externalId"] for u in doc["users"]] == sorted(u["externalId"] for u in doc["users"])
    first = doc["users"][0]
    assert first == {
        "externalId": "HR-00000",
        "userName": "person00000@example.com",
        "displayName": "Person 0",
        "active": False,
        "title": "Agent",
        "department": "Sales",
        "roles": ["Employee"],
    }  # inactive: its memberships stay unmanaged, so the plan leaves them alone
    assert "roles" not in doc["users"][1]  # the common roles are in defaults

    planned = ws.run("plan", "-m", "imported.yaml", "--detailed-exitcode", timeout=300)
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr
    assert "No changes." in planned.stdout

    again = ws.run("import", "--out", "imported.yaml", "--api-url", emu.url)
    assert again.returncode == 1 and "exists; pass --force" in again.stderr


def test_import_filters_and_key_rule(seeded):
    ws = seeded(org(30))
    emu = ws.emulator
    chosen = ws.run(
        "import", "--out", "support.yaml", "--api-url", emu.url,
        "--where", 'department == "Support" and active', "--has-external-id",
    )  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    doc = yaml.safe_load((ws.path / "support.yaml").read_text())
    assert doc["users"] and all(u.get("department") == "Support" for u in doc["users"])
    assert all(u.get("active", True) for u in doc["users"])
    assert ws.run("plan", "-m", "support.yaml", "--detailed-exitcode").returncode == 0

    named = ws.run(
        "import", "--out", "one.yaml", "--api-url", emu.url, "--key-from", "userName",
        "--user-name", "NOKEY@example.com", "--state", f"sqlite:///{ws.path / 'other.db'}",
    )  # fmt: skip
    assert named.returncode == 0, named.stderr
    doc = yaml.safe_load((ws.path / "one.yaml").read_text())
    assert [u["externalId"] for u in doc["users"]] == ["nokey@example.com"]
    planned = ws.run("plan", "-m", "one.yaml", "--state", f"sqlite:///{ws.path / 'other.db'}")
    assert "externalId" in planned.stdout and '(unset) -> "nokey@example.com"' in planned.stdout

    bad = ws.run("import", "--out", "x.yaml", "--api-url", emu.url, "--where", "department ==")
    assert bad.returncode == 1 and "--where" in bad.stderr and "Traceback" not in bad.stderr
    assert not (ws.path / "x.yaml").exists()


def test_quickstart_import_with_default_options_then_plan_exits_0(
    start_emulator, tmp_path, sqlite_url
):
    seed = yaml.safe_load((ROOT / "examples/quickstart/seed.yaml").read_text())
    ws = Workspace(tmp_path, start_emulator(seed), sqlite_url)
    ws.write_manifest({})  # scimctl.yaml: just the target
    imported = ws.run("import", "--out", "imported.yaml")
    assert imported.returncode == 0, imported.stderr
    assert "it.admin@example.com: no externalId" in imported.stderr
    planned = ws.run("plan", "--manifest", "imported.yaml", "--detailed-exitcode")
    assert planned.returncode == 0, planned.stdout + planned.stderr
