"""A new state database starts safely: creators take turns, a killed one leaves nothing.

Before, two applies started at once on a new SQLite file failed with ``table workspaces
already exists``, and a process killed while creating the schema left tables without a
recorded version, after which every command (``db upgrade`` too) failed the same way.
An older scimctl left such tables behind; the next command starts them over, unless
they hold rows. Run with the real command on a real SQLite file and a real PostgreSQL
schema.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import SCIMCTL, Workspace, db, existing_state, user

from scimctl.state.db import PAUSE_ENV, SCHEMA_HEAD


def env(url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "SCIMCTL_"))}
    return {**base, "SCIMCTL_STATE": url, **extra}


def upgrade(url: str, cwd: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SCIMCTL, "db", "upgrade"], cwd=cwd, env=env(url, **extra), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finished(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def wait_for(marker: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, finished(proc)
        assert time.monotonic() < deadline, "the migration never reached the pause"
        time.sleep(0.05)


def tables(url: str) -> set[str]:
    if url.startswith("sqlite"):
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return {row[0] for row in db(url, query)}


def is_at_head(url: str) -> bool:
    return db(url, "SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]


@pytest.mark.parametrize("attempt", range(3))
def test_processes_creating_a_new_state_at_once_all_succeed(bare_state_url, tmp_path, attempt):
    procs = [upgrade(bare_state_url, tmp_path) for _ in range(3)]
    for proc in procs:
        code, said = finished(proc)
        assert code == 0 and "State schema is up to date" in said, said
    assert is_at_head(bare_state_url)


def test_a_second_creator_waits_for_the_first_and_finds_the_schema_made(bare_state_url, tmp_path):
    marker = tmp_path / "paused"
    first = upgrade(bare_state_url, tmp_path, **{PAUSE_ENV: str(marker)})
    wait_for(marker, first)  # the first has made every table, not yet committed
    second = upgrade(bare_state_url, tmp_path)
    time.sleep(1.5)
    assert second.poll() is None, finished(second)  # waiting for the first's lock
    marker.unlink()
    for proc in (first, second):
        code, said = finished(proc)
        assert code == 0 and "Traceback" not in said, said
    assert is_at_head(bare_state_url)


def test_a_process_killed_while_creating_the_schema_leaves_nothing_half_made(
    bare_state_url, tmp_path
):
    marker = tmp_path / "paused"
    creator = upgrade(bare_state_url, tmp_path, **{PAUSE_ENV: str(marker)})
    wait_for(marker, creator)
    creator.send_signal(signal.SIGKILL)
    creator.communicate(timeout=30)
    assert tables(bare_state_url) == set()  # rolled back whole: no tables without a version
    code, said = finished(upgrade(bare_state_url, tmp_path))
    assert code == 0 and "State schema is up to date" in said, said
    assert is_at_head(bare_state_url)
    assert {"workspaces", "runs", "operations", "locks", "alembic_version"} <= tables(
        bare_state_url
    )


def brick(url: str, shape: str) -> None:
    """What an older scimctl killed while creating the schema left: it made each table
    in a transaction of its own and recorded the version last."""
    from scimctl.state import tables

    if shape == "all tables, no version table":
        existing_state(url)
        with connection(url) as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
        return
    with connection(url) as conn:
        conn.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
        )
        tables.metadata.create_all(conn, tables=[tables.workspaces, tables.runs])


@contextmanager
def connection(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("shape", "command"),
    [
        ("some tables, an empty version table", ("db", "upgrade")),
        ("all tables, no version table", ("apply", "--auto-approve")),
    ],
)
def test_tables_an_older_scimctl_left_without_a_version_are_started_over(
    bare_state_url, tmp_path, emulator, shape, command
):
    brick(bare_state_url, shape)
    ws = Workspace(tmp_path, emulator, bare_state_url)
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    result = ws.run(*command)
    assert result.returncode == 0, result.stderr
    assert is_at_head(bare_state_url)
    assert {"workspaces", "managed_users", "operations", "journal_head"} <= tables(bare_state_url)
    if command[0] == "apply":
        assert [u["userName"] for u in emulator.users()] == ["jane@example.com"]
        assert db(bare_state_url, "SELECT user_name FROM managed_users") == [("jane@example.com",)]


def test_a_state_with_rows_but_no_version_is_refused_and_left_as_it_is(
    bare_state_url, tmp_path, emulator
):
    ws = Workspace(tmp_path, emulator, existing_state(bare_state_url))
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    assert ws.run("apply", "--auto-approve").returncode == 0
    with connection(bare_state_url) as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    before = tables(bare_state_url), db(bare_state_url, "SELECT * FROM managed_users")
    for command in (("db", "upgrade"), ("plan",), ("state", "list")):
        result = ws.run(*command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        said = result.stderr
        assert "no recorded schema version" in said and "managed_users" in said, said
        assert "Restore the database from a backup" in said and "Traceback" not in said
    assert (tables(bare_state_url), db(bare_state_url, "SELECT * FROM managed_users")) == before
