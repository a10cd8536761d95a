"""Records that answer an auditor: values in history, a chain that catches tampering,
every run accounted for. The real CLI against the emulator, SQLite and PostgreSQL."""

from __future__ import annotations

from scimctl.state import chain


def test_migration_anchor_matches_the_application():
    import importlib

    migration = importlib.import_module("scimctl.migrations.versions.0002_audit_chain")
    heads = {"genesys:a": "1" * 64, "genesys:b": "2" * 64}
    assert migration._anchor(heads) == chain.legacy_anchor(heads)
    assert migration._anchor({}) == chain.legacy_anchor({}) == chain.GENESIS
