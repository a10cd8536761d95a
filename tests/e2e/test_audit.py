"""Records that answer an auditor: values in history, a chain that catches tampering,
every run accounted for. The real CLI against the emulator, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from conftest import SCIMCTL, Workspace, db, user

from scimctl.state import chain, tables
from scimctl.state.store import SCHEMA_HEAD, Store, migrations_config

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def execute(url: str, query: str, **params) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(query), params)
    finally:
        engine.dispose()


def people(title_of_e1: str = "Agent", e2_name: str = "p2@example.com") -> dict:
    return {
        "groups": [{"name": "Support"}, {"name": "Sales"}],
        "users": [
            user("E0", "p0@example.com", title="Agent", groups=["Support"]),
            user("E1", "p1@example.com", title=title_of_e1, groups=["Support"]),
            user("E2", e2_name, title="Agent", groups=["Sales"], displayName="Zoë Ångström"),
        ],
    }


@pytest.fixture
def ws(tmp_path, emulator, state_url) -> Workspace:
    return Workspace(tmp_path, emulator, state_url)


def history(ws: Workspace, *args: str, **env: Any) -> list[dict]:
    result = ws.run("history", *args, "--format", "json", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_history_has_values_and_follows_renames(ws):
    env = {"GITHUB_SHA": "c0ffee1234", "GITHUB_ACTOR": "dana"}
    ws.write_manifest(people())
    assert ws.run("apply", "--auto-approve", **env).returncode == 0
    ws.write_manifest(people(title_of_e1="Lead", e2_name="zoe.new@example.com"))
    planned = ws.run("plan", "--out", "plan.json", **env)
    assert planned.returncode == 0, planned.stderr
    digest = json.loads(
        ws.run("history", "runs", "--kind", "plan", "--limit", "1", "--format", "json").stdout
    )[0]["plan_digest"]
    applied = ws.run("apply", "plan.json", **{**env, "GITHUB_SHA": "beef5678"})
    assert applied.returncode == 0, applied.stderr

    rows = history(ws)
    updates = {r["resource_key"]: r for r in rows if r["action"] == "update"}
    assert updates["E1"]["changes"]["title"] == {"before": "Agent", "after": "Lead"}
    assert updates["E2"]["changes"]["userName"] == {
        "before": "p2@example.com",
        "after": "zoe.new@example.com",
    }
    assert updates["E1"]["actor"] == "dana" and updates["E1"]["commit"] == "beef5678"
    assert updates["E1"]["plan_digest"] == digest
    assert all(ISO.match(r["at"]) for r in rows)

    # Every operation on the account, the create from before the rename included.
    for name in ("zoe.new@example.com", "P2@EXAMPLE.COM", "E2"):
        found = history(ws, "--user", name)
        assert {(r["action"], r["resource"]) for r in found} == {
            ("create", "user"),
            ("update", "user"),
            ("add_members", "group"),
        }, name
    created = next(
        r for r in history(ws, "--user", "zoe.new@example.com") if r["action"] == "create"
    )
    assert created["commit"] == "c0ffee1234" and created["changes"]["userName"]["after"] == (
        "p2@example.com"
    )

    titled = history(ws, "--attribute", "title")
    assert ("update", "E1") in {(r["action"], r["resource_key"]) for r in titled}
    assert ("update", "E2") not in {(r["action"], r["resource_key"]) for r in titled}

    groups = history(ws, "--group", "Support")
    assert [(r["action"], r["resource"]) for r in groups] == [("add_members", "group")]
    assert sorted(groups[0]["changes"]["members"]["added"]) == ["p0@example.com", "p1@example.com"]
    assert not [r for r in rows if r["action"] == "members"]

    table = ws.run("history", "--user", "E1").stdout
    assert 'title: "Agent" -> "Lead"' in table and "group Support" in table
    assert "add_members" in table

    redacted = ws.run("history", "--redact", "--format", "json").stdout
    assert "Zoë" not in redacted and "p1@example.com" not in redacted
    assert "p***@example.com" in redacted and '"Lead"' in redacted
    assert "Zoë Ångström" in ws.run("history", "--format", "json").stdout  # not escaped

    run_id = updates["E1"]["run_id"]
    assert {r["run_id"] for r in history(ws, "--run", run_id[:8])} == {run_id}
    assert history(ws, "--since", "2999-01-01") == []
    assert history(ws, "--until", "2000-01-01") == []


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the process ended before it could be killed"


IN_FLIGHT = (
    "SELECT count(*) FROM operations i WHERE i.phase = 'intent' AND NOT EXISTS "
    "(SELECT 1 FROM operations r WHERE r.phase = 'result' AND r.run_id = i.run_id "
    "AND r.action_id = i.action_id)"
)


def kill_in_flight(proc: subprocess.Popen, url: str, deadline: float = 60) -> None:
    """SIGKILL while an operation is in flight (its intent journaled, no result yet).

    The process is stopped first and killed only if its journal then shows an open
    intent; otherwise it runs on a moment and is looked at again. A kill timed by
    sleeping alone can land between one operation's result and the next one's intent
    on a busy machine, and then nothing was in flight."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        proc.send_signal(signal.SIGSTOP)
        try:
            in_flight = db(url, IN_FLIGHT)[0][0]
        except BaseException:
            proc.kill()  # never left stopped: it would hold its state's locks for ever
            raise
        if in_flight:
            kill(proc)
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("no operation was ever in flight")


def wait_for(url: str, query: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if db(url, query)[0][0]:
                return
        except sa.exc.DBAPIError:
            pass  # the schema is not there yet
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {query}")


def test_killed_runs_end_crashed_or_abandoned(start_emulator, tmp_path, state_url):
    emu = start_emulator(latency_ms=1000)  # eight operations one at a time: 8 s or more
    ws = Workspace(tmp_path, emu, state_url)
    ws.write_manifest(
        {"groups": [{"name": "Support"}, {"name": "Sales"}],
         "users": [user(f"E{i}", f"p{i}@example.com", groups=[("Support", "Sales")[i % 2]])
                   for i in range(6)]}
    )  # fmt: skip
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    popen: dict[str, Any] = {
        "cwd": ws.path,
        "env": ws.env(),
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
    holder = subprocess.Popen([SCIMCTL, "apply", "plan.json", "--parallelism", "1"], **popen)
    # Killed with requests in flight: sent, never finished.
    wait_for(ws.state, "SELECT count(*) FROM operations WHERE phase = 'intent'")
    waiter = subprocess.Popen([SCIMCTL, "apply", "plan.json", "--lock-timeout", "120"], **popen)
    wait_for(ws.state, "SELECT count(*) - 1 FROM runs WHERE kind = 'apply'")
    time.sleep(0.5)  # let it reach the lock wait; being killed earlier ends it the same way
    kill(waiter)
    kill_in_flight(holder, ws.state)
    emu.emulator.config.latency_ms = 0  # the rest needs no slow service

    listed = json.loads(ws.run("history", "runs", "--format", "json").stdout)
    assert [r["outcome"] for r in listed if r["kind"] == "apply"] == ["running", "running"]

    after = ws.run("apply", "--auto-approve")
    assert after.returncode == 0, after.stderr
    assert "crashed" in after.stderr and "abandoned" in after.stderr
    # parallelism 1: the one operation in flight when it was killed
    assert re.search(r"outcome unknown: (create:user:E\d|group:S\w+) \((POST|PATCH) ", after.stderr)

    listed = json.loads(ws.run("history", "runs", "--kind", "apply", "--format", "json").stdout)
    assert [r["outcome"] for r in listed] == ["succeeded", "abandoned", "crashed"]
    crashed, abandoned = listed[2], listed[1]
    assert abandoned["operations"] == 0 and "waiting for the state lock" in abandoned["error"]
    assert crashed["operations"] >= 1 and crashed["summary"]["unfinished"]
    table = ws.run("history", "runs").stdout
    assert "abandoned" in table and "crashed" in table and "running" not in table

    shown = json.loads(ws.run("history", "show", crashed["id"], "--format", "json").stdout)
    unknown = [op for op in shown["operations"] if op["outcome"] == "unknown"]
    assert len(unknown) == 1 and unknown[0]["method"] in ("POST", "PATCH")
    assert len(unknown) == len(crashed["summary"]["unfinished"])
    text = ws.run("history", "show", crashed["id"][:8]).stdout
    assert "unknown" in text and "create" in text
    empty = ws.run("history", "show", abandoned["id"])
    assert "No operations: the run was abandoned before it sent anything." in empty.stdout
    assert ws.run("history", "verify").returncode == 0


def apply_twice(ws: Workspace, **env: Any) -> None:
    ws.write_manifest(people())
    assert ws.run("apply", "--auto-approve", **env).returncode == 0
    ws.write_manifest(people(title_of_e1="Lead"))
    result = ws.run("apply", "--auto-approve", **env)
    assert result.returncode == 0, result.stderr


def head(ws: Workspace, **env: Any) -> str:
    result = ws.run("history", "verify", **env)
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("Head: ")]
    return line.removeprefix("Head: ")


def test_removing_the_last_journal_rows_is_found(ws):
    apply_twice(ws)
    head(ws)
    execute(
        ws.state,
        "DELETE FROM operations WHERE id IN "
        "(SELECT id FROM (SELECT id FROM operations ORDER BY id DESC LIMIT 5) AS last)",
    )
    result = ws.run("history", "verify")
    assert result.returncode == 1
    removed = re.findall(
        r"(\d+) journal entr(?:y was|ies were) removed before it \(positions [\d-]+\)",
        result.stderr,
    )
    assert sum(map(int, removed)) == 5, result.stderr


def test_removing_the_last_run_and_rows_is_found_by_the_head(ws):
    apply_twice(ws)
    kept = head(ws)
    (last_run,) = db(ws.state, "SELECT run_id FROM operations ORDER BY id DESC LIMIT 1")
    execute(ws.state, "DELETE FROM operations WHERE run_id = :r", r=last_run[0])
    execute(ws.state, "DELETE FROM runs WHERE id = :r", r=last_run[0])
    result = ws.run("history", "verify")
    assert result.returncode == 1 and "were removed" in result.stderr
    # ... and by a head kept elsewhere, even with the head row put right as well.
    seq, hash_ = db(ws.state, "SELECT seq, hash FROM runs WHERE seq IS NOT NULL ORDER BY seq DESC")[
        0
    ]
    execute(ws.state, "UPDATE journal_head SET seq = :s, hash = :h", s=seq, h=hash_)
    assert ws.run("history", "verify").returncode == 0
    expected = ws.run("history", "verify", "--expect", kept)
    assert expected.returncode == 1 and "expected head" in expected.stderr


def test_an_edited_run_actor_is_named(ws):
    apply_twice(ws, GITHUB_ACTOR="dana")
    run_id = db(ws.state, "SELECT id FROM runs WHERE kind = 'apply' ORDER BY started_at")[0][0]
    execute(ws.state, "UPDATE runs SET actor = 'mallory' WHERE id = :r", r=run_id)
    result = ws.run("history", "verify")
    assert result.returncode == 1
    assert f"run {run_id}" in result.stderr and "runs.actor edited" in result.stderr


def rehash_everything(url: str, key: str | None = None) -> None:
    """What an attacker with write access does: recompute every seal and hash."""
    engine = sa.create_engine(url)
    entries = []
    with engine.connect() as conn:
        for table in (tables.operations, tables.runs):
            rows = conn.execute(sa.select(table).where(table.c.seq.is_not(None))).mappings()
            entries += [(r["seq"], table, dict(r)) for r in rows]
    entries.sort(key=lambda e: e[0])
    prev = entries[0][2]["prev_hash"]
    with engine.begin() as conn:
        for _, table, row in entries:
            digest = chain.entry_hash(prev, table.name, row, key)
            conn.execute(
                table.update()
                .where(table.c.id == row["id"])
                .values(prev_hash=prev, hash=digest, seal=chain.seal(table.name, row))
            )
            prev = digest
        conn.execute(tables.journal_head.update().values(hash=prev))
    engine.dispose()


def test_an_edit_with_recomputed_hashes_is_caught_by_the_expected_head(ws):
    apply_twice(ws)
    kept = head(ws)
    op_id = db(ws.state, "SELECT id FROM operations WHERE action = 'update' AND phase = 'result'")
    execute(
        ws.state,
        "UPDATE operations SET changes = :c WHERE id = :i",
        c=json.dumps({"title": {"before": "Agent", "after": "Intern"}}),
        i=op_id[0][0],
    )
    tampered = ws.run("history", "verify")
    assert tampered.returncode == 1 and "operations.changes edited" in tampered.stderr
    rehash_everything(ws.state)
    assert ws.run("history", "verify").returncode == 0, "a full re-hash passes on its own"
    caught = ws.run("history", "verify", "--expect", kept)
    assert caught.returncode == 1
    assert "head kept elsewhere" in caught.stderr and "re-hashed" in caught.stderr
    assert ws.run("history", "verify", "--expect", kept.split(":")[1]).returncode == 1


def test_an_older_expected_head_still_verifies_after_new_runs(ws):
    ws.write_manifest(people())
    assert ws.run("apply", "--auto-approve").returncode == 0
    kept = head(ws)
    ws.write_manifest(people(title_of_e1="Lead"))
    assert ws.run("apply", "--auto-approve").returncode == 0
    result = ws.run("history", "verify", "--expect", kept)
    assert result.returncode == 0, result.stderr
    assert "The expected head is in the chain" in result.stdout
    assert head(ws) != kept


def test_hmac_chain_needs_the_key(ws):
    key = "audit-key-5f2b-never-stored"
    apply_twice(ws, SCIMCTL_AUDIT_KEY=key)
    ok = ws.run("history", "verify", SCIMCTL_AUDIT_KEY=key)
    assert ok.returncode == 0 and "HMAC-SHA256" in ok.stdout
    keyless = ws.run("history", "verify")
    assert keyless.returncode == 1 and "SCIMCTL_AUDIT_KEY" in keyless.stderr
    wrong = ws.run("history", "verify", SCIMCTL_AUDIT_KEY="another")
    assert wrong.returncode == 1 and "another key" in wrong.stderr
    ws.write_manifest(people(title_of_e1="Boss"))
    refused = ws.run("apply", "--auto-approve")
    assert refused.returncode == 1 and "SCIMCTL_AUDIT_KEY" in refused.stderr
    # Someone without the key recomputes every hash: the key holder sees it.
    execute(ws.state, "UPDATE runs SET actor = 'mallory'")
    rehash_everything(ws.state)
    forged = ws.run("history", "verify", SCIMCTL_AUDIT_KEY=key)
    assert forged.returncode == 1
    dump = "\n".join(
        repr(row)
        for table in ("operations", "runs", "journal_head")
        for row in db(ws.state, f"SELECT * FROM {table}")
    )
    assert key not in dump


def legacy_database(url: str) -> None:
    """A database at schema 0001 with journal rows in the old chain format."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrations_config(conn), "0001")
    stamp = "2026-11-20 10:00:00"
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO workspaces VALUES ('genesys:old', 'lin-1', 1, :t, :t)"),
            {"t": stamp},
        )
        conn.execute(
            sa.text(
                "INSERT INTO managed_users VALUES "
                "('genesys:old', 'E9', 'live-9', 'old@example.com', '{}', '1', :t)"
            ),
            {"t": stamp},
        )
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, workspace, kind, actor, started_at, finished_at, outcome) "
                "VALUES ('run-old', 'genesys:old', 'apply', 'erin', :t, :t, 'succeeded')"
            ),
            {"t": stamp},
        )
        prev = chain.GENESIS
        for i, action in enumerate(("create", "update")):
            for phase in ("intent", "result"):
                row = {
                    "workspace": "genesys:old", "run_id": "run-old", "phase": phase,
                    "action_id": f"{action}:user:E9", "action": action, "resource": "user",
                    "resource_key": "E9", "user_name": "old@example.com", "method": "POST",
                    "path": "/Users", "status": 201 if phase == "result" else None,
                    "outcome": "ok" if phase == "result" else None,
                    "attempts": 1 if phase == "result" else None,
                    "latency_ms": 12.5 if phase == "result" else None, "error": None,
                    "at": datetime(2026, 11, 20, 10, i, 0),
                }  # fmt: skip
                row["prev_hash"] = prev
                row["hash"] = prev = chain.legacy_hash(prev, row)
                columns, values = ", ".join(row), ", ".join(":" + k for k in row)
                conn.execute(sa.text(f"INSERT INTO operations ({columns}) VALUES ({values})"), row)
    engine.dispose()


def test_upgrade_from_0001_keeps_rows_and_the_chain(start_emulator, tmp_path, bare_state_url):
    state_url = bare_state_url
    legacy_database(state_url)
    store = Store(state_url)  # migrates
    assert store.revision() == SCHEMA_HEAD
    assert db(state_url, "SELECT count(*) FROM operations") == [(4,)]
    assert db(state_url, "SELECT key, user_name FROM managed_users") == [("E9", "old@example.com")]
    assert db(state_url, "SELECT actor, outcome FROM runs") == [("erin", "succeeded")]
    store.close()
    emu = start_emulator()
    ws = Workspace(tmp_path, emu, state_url)
    ws.write_manifest(people())
    assert ws.run("apply", "--auto-approve").returncode == 0
    verified = ws.run("history", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "4 rows from before the chain" in verified.stdout
    old = history(ws, "--user", "old@example.com")
    assert [r["action"] for r in old] == ["update", "create"] and old[0]["changes"] == {}
    # The legacy rows are bound into the new chain: cutting them off is found.
    execute(
        state_url,
        "DELETE FROM operations WHERE id = (SELECT max(id) FROM operations WHERE seq IS NULL)",
    )
    cut = ws.run("history", "verify")
    assert cut.returncode == 1


def test_concurrent_writers_extend_one_chain(state_url):
    """Two stores (two connection pools, as two processes have) append at once."""
    import threading

    from scimctl.records.history import verify_chain

    stores = [Store(state_url), Store(state_url)]
    errors = []

    def write(store: Store, workspace: str) -> None:
        try:
            for i in range(25):
                run_id = store.start_run(workspace, "plan")
                with store.tx() as conn:
                    store.append_operation(
                        conn,
                        {
                            "workspace": workspace, "run_id": run_id, "phase": "result",
                            "action_id": f"update:user:E{i}", "action": "update",
                            "resource": "user", "resource_key": f"E{i}", "outcome": "ok",
                            "changes": {"title": {"before": "A", "after": "B"}},
                        },
                    )  # fmt: skip
                store.finish_run(run_id, "no-changes", {"changes": 0})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(s, f"genesys:w{n}")) for n, s in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    report = verify_chain(stores[0].audit)
    assert report.ok, report.problems
    assert report.entries == report.head_seq == 100
    for store in stores:
        store.close()
