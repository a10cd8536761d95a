"""The state store on its own: schema head, workspaces, token refresh during apply."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from conftest import Workspace, user
from unit.test_state import _user_writes_keep_recorded_grants

from scimctl.state.store import SCHEMA_HEAD, Store, migrations_config


def test_fresh_database_is_migrated_and_workspaces_are_separate(state_url):
    store = Store(state_url)
    assert store.revision() == SCHEMA_HEAD
    lineage, serial = store.begin_apply("genesys:a", "", 0)
    assert serial == 1 and lineage
    assert store.state("genesys:a").serial == 1
    assert store.state("genesys:b").serial == 0
    assert Store(state_url).workspaces() == ["genesys:a"]
    store.close()


def test_a_user_write_keeps_the_recorded_grants(state_url):
    """The grants a grants action recorded survive a later write of the same user that
    does not carry them; otherwise additive ownership never removes them."""
    store = Store(state_url)
    _user_writes_keep_recorded_grants(store)
    store.close()


def test_upgrade_to_0003_splits_a_held_lock_into_columns(bare_state_url):
    """A lock row written by 0002's code (one holder string) survives the upgrade as
    typed columns, and is released through its new token."""
    state_url = bare_state_url
    engine = sa.create_engine(state_url)
    with engine.begin() as conn:
        command.upgrade(migrations_config(conn), "0002")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, workspace, kind, started_at, locked_at, outcome, pid, host) "
                "VALUES ('r1', 'genesys:a', 'apply', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
                "'running', 4242, 'build-7')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO locks (workspace, holder, run_id, acquired_at) VALUES "
                "('genesys:a', 'dev@corp@build-7 pid 4242', 'r1', CURRENT_TIMESTAMP), "
                "('genesys:b', 'someone', NULL, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    store = Store(state_url)  # migrates to the head
    try:
        assert store.revision() == SCHEMA_HEAD
        info = store.lock_holder("genesys:a")
        assert info is not None and info.token
        assert (info.who, info.host, info.pid) == ("dev@corp", "build-7", 4242)
        assert (info.id, info.operation) == ("r1", "apply")
        assert info.holder == "dev@corp@build-7 pid 4242"
        odd = store.lock_holder("genesys:b")
        assert odd is not None and (odd.who, odd.host, odd.pid, odd.id) == (
            "someone",
            None,
            None,
            None,
        )
        released = store.unlock("genesys:a")
        assert released is not None and released.id == "r1"
        assert store.lock_holder("genesys:a") is None
        run = store.run("r1")
        assert run is not None and run["outcome"] == "crashed"
    finally:
        store.close()


def test_release_deletes_only_its_own_lock(state_url):
    """A holder whose lock was broken and taken by another leaves the new one alone."""
    store = Store(state_url)
    try:
        with store.lock("genesys:a"):
            mine = store.lock_holder("genesys:a")
            with store.tx() as conn:  # broken and taken meanwhile by another process
                conn.execute(
                    sa.text("UPDATE locks SET token = 'theirs', pid = 1 WHERE workspace = :w"),
                    {"w": "genesys:a"},
                )
        after = store.lock_holder("genesys:a")
        assert mine is not None and after is not None and after.token == "theirs"
    finally:
        store.close()


def test_an_expired_token_is_replaced_during_apply(start_emulator, tmp_path, sqlite_url):
    emu = start_emulator(token_ttl=1, latency_ms=60)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest({"users": [user(f"E{i}", f"t{i}@example.com") for i in range(30)]})
    result = ws.run("apply", "--auto-approve", "--parallelism", "1")
    assert result.returncode == 0, result.stderr
    assert len(emu.emulator.tokens) >= 3
    assert len(emu.users()) == 30
