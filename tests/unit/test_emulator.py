"""The emulator behaves like Genesys Cloud on every point scimctl relies on.

Each test talks to a running emulator over loopback HTTP with a real client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scimctl.emulator.directory import Directory
from scimctl.emulator.seed import load_seed

ROOT = Path(__file__).resolve().parents[2]


def test_example_seed_has_the_roles_a_policy_must_refuse(tmp_path):
    directory = load_seed(ROOT / "examples/quickstart/seed.yaml", Directory())
    names = directory.role_names()
    assert {"Employee", "Agent", "Supervisor"} <= names
    admin = next(r for r in directory.roles.values() if r.name == "Master Admin")
    assert any(p.startswith("authorization:") for p in admin.permissions)


def test_bad_seed_names_the_entry(tmp_path):
    bad = tmp_path / "seed.yaml"
    bad.write_text("users:\n  - userName: nope\n    displayName: X\n")
    with pytest.raises(ValueError, match=r"users\[0\].*email"):
        load_seed(bad, Directory())


def test_a_profile_holds_one_number_per_phone_type():
    """Each phone type is one slot of a Genesys profile (docs/genesys.md): of two
    numbers sent with one type, the emulator keeps the later; other types stay."""
    directory = load_seed(ROOT / "examples/quickstart/seed.yaml", Directory())
    user = directory.create_user(
        {
            "userName": "slots@example.com",
            "displayName": "Slots",
            "phoneNumbers": [
                {"type": "work", "value": "+15555550100"},
                {"type": "home", "value": "+15555550101"},
                {"type": "work", "value": "+15555550102"},
            ],
        }
    )
    assert user.doc["phoneNumbers"] == [
        {"type": "home", "value": "+15555550101"},
        {"type": "work", "value": "+15555550102"},
    ]
