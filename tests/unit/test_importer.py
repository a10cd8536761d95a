"""The importer's pure part: choosing accounts and writing YAML that reads back exactly."""

from __future__ import annotations

import pytest
import yaml

from scimctl.errors import ConfigError
from scimctl.manifest.build import ImportOptions, build_manifest, dump
from scimctl.model import LiveGroup, LiveRole, LiveUser, Snapshot

AWKWARD = [
    "1004", "007", "yes", "No", "null", "~", "true", "1e3", "0x1F", "2026-01-01",
    "a: b", "#hash", "- dash", " lead", "trail ", "Zoë O'Brien", "[x]", "{y}", "a, b",
    "tab\\there", 'quote"d', "!tag", "&anchor", "*alias", "%pct", "@at", "`tick`", "|", ">",
    "", "Support Tier1", "Jane (Ops)", "x" * 120,
]  # fmt: skip


@pytest.mark.parametrize("value", AWKWARD)
def test_dump_reads_back_exactly(value):
    doc = {
        "version": 1,
        "target": {"api_url": "http://127.0.0.1:1/x"},
        "users": [{"externalId": value, "roles": [value, "Agent"], "active": False}],
        "groups": [{"name": value}],
    }
    assert yaml.safe_load(dump(doc)) == doc


def live(i: int, ext: str | None, **attrs) -> LiveUser:
    base = {"userName": f"u{i}@example.com", "displayName": f"U {i}", "active": True}
    return LiveUser(f"id{i}", ext, {**base, **attrs})


def test_where_filter_and_reasons_for_leaving_out():
    snap = Snapshot(
        users=(
            live(1, "A", department="Support", roles=["Agent"]),
            live(2, "B", department="Sales", roles=["Agent"]),
            live(3, None, department="Support"),
            live(4, "C", department="Support", roles=["Admin"]),
            live(5, "A", department="Support"),
        ),
        groups=(LiveGroup("g", "Support", frozenset({"id1", "id2"})),),
        roles=(
            LiveRole("r1", "Agent", ("routing:agent:view",)),
            LiveRole("r2", "Admin", ("admin",)),
        ),
    )
    res = build_manifest(
        snap, ImportOptions(where='department == "Support"'), target={"api_url": "x"}, source="x"
    )
    assert [u.key for u in res.users] == ["A"]
    assert res.filtered == 1
    reasons = dict(res.left_out)
    assert reasons["u3@example.com"].startswith("no externalId")
    assert "denied by the default policy" in reasons["u4@example.com"]
    assert "not unique" in reasons["u5@example.com"]
    assert res.groups == {"Support": "g"}
    with pytest.raises(ConfigError, match="--where"):
        build_manifest(snap, ImportOptions(where="department =="), target={}, source="x")
    with pytest.raises(ConfigError, match="--key-from"):
        build_manifest(snap, ImportOptions(key_from="email"), target={}, source="x")
