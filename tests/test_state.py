"""The state store on its own: schema head, workspaces, token refresh during apply."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from conftest import Workspace, user

from scimctl.config import ConfigError, resolve_target
from scimctl.state.store import SCHEMA_HEAD, Store, migrations_config


def test_schema_head_constant_matches_the_migrations():
    script = ScriptDirectory.from_config(migrations_config())
    assert script.get_current_head() == SCHEMA_HEAD
    assert Path(script.dir).name == "migrations"


def test_fresh_database_is_migrated_and_workspaces_are_separate(state_url):
    store = Store(state_url)
    assert store.revision() == SCHEMA_HEAD
    lineage, serial = store.begin_apply("genesys:a", "", 0)
    assert serial == 1 and lineage
    assert store.state("genesys:a").serial == 1
    assert store.state("genesys:b").serial == 0
    assert Store(state_url).workspaces() == ["genesys:a"]
    store.close()


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


def test_an_expired_token_is_replaced_during_apply(start_emulator, tmp_path, sqlite_url):
    emu = start_emulator(token_ttl=1, latency_ms=60)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest({"users": [user(f"E{i}", f"t{i}@example.com") for i in range(30)]})
    result = ws.run("apply", "--auto-approve", "--parallelism", "1")
    assert result.returncode == 0, result.stderr
    assert len(emu.emulator.tokens) >= 3
    assert len(emu.users()) == 30
