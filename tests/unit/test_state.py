"""The state store on its own: schema head, workspaces, token refresh during apply."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from scimctl.config import resolve_target
from scimctl.errors import ConfigError
from scimctl.state.memory import MemoryStore
from scimctl.state.store import SCHEMA_HEAD, Store, migrations_config


def test_schema_head_constant_matches_the_migrations():
    script = ScriptDirectory.from_config(migrations_config())
    assert script.get_current_head() == SCHEMA_HEAD
    assert Path(script.dir).name == "migrations"


def _user_writes_keep_recorded_grants(store: Store | MemoryStore) -> None:
    ws = "genesys:a"
    store.begin_apply(ws, "", 0)
    grant = [{"role": "Supervisor", "division": "Sales", "roleId": "r", "divisionId": "d"}]

    def put(attrs: dict, version: str) -> None:
        with store.tx() as conn:
            store.put_user(conn, ws, "S1", "u1", "sam@example.com", attrs, version)

    put({"title": "A"}, "1")
    put({"title": "A", "grants": grant}, "1")  # what a grants action records
    put({"title": "B"}, "2")  # an ordinary update afterwards
    assert store.state(ws).applied["S1"] == {"title": "B", "grants": grant}
    put({"title": "B", "grants": []}, "3")  # a write that carries grants replaces them
    put({"title": "C"}, "4")
    assert store.state(ws).applied["S1"] == {"title": "C", "grants": []}
    put({"grants": grant}, "5")
    with store.tx() as conn:  # import records what it observed, whole
        store.put_users(conn, ws, [("S1", "u1", "sam@example.com", {"title": "D"}, "6")])
    assert store.state(ws).applied["S1"] == {"title": "D"}


def test_a_user_write_keeps_the_recorded_grants_in_memory():
    _user_writes_keep_recorded_grants(MemoryStore())


def test_split_holder_of_the_backfill():
    import importlib

    migration = importlib.import_module("scimctl.migrations.versions.0003_lock_holder_columns")
    assert migration.split_holder("ci@runner-1 pid 42") == ("ci", "runner-1", 42)
    assert migration.split_holder("a@b@host pid 7") == ("a@b", "host", 7)
    assert migration.split_holder("ci@runner-1") == ("ci", "runner-1", None)
    assert migration.split_holder("someone") == ("someone", None, None)


def test_region_and_explicit_targets():
    t = resolve_target(region="eu-central-1")
    assert (t.api_url, t.login_url) == (
        "https://api.mypurecloud.de",
        "https://login.mypurecloud.de",
    )
    t = resolve_target(region="usw2.pure.cloud")
    assert t.login_url == "https://login.usw2.pure.cloud"
    t = resolve_target(api_url="http://127.0.0.1:9/")
    assert (t.api_url, t.login_url) == ("http://127.0.0.1:9", "http://127.0.0.1:9")
    for bad in ({"region": "nowhere"}, {}, {"provider": "scim", "api_url": "http://x"}):
        try:
            resolve_target(**bad)
        except ConfigError:
            continue
        raise AssertionError(f"{bad} should be refused")
