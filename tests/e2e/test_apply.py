"""apply under stress: faults, crashes, concurrent runs, conflicts; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from conftest import SCIMCTL, Workspace, apply_unchecked, db, user

from scimctl.scim.schema import PATCH_OP


def manifest(n: int, groups: tuple[str, ...] = ("Support", "Sales")) -> dict:
    return {
        "groups": [{"name": g} for g in groups],
        "users": [
            user(
                f"E{i:03}",
                f"user{i:03}@example.com",
                title="Agent",
                groups=[groups[i % len(groups)]],
            )
            for i in range(n)
        ],
    }


def assert_converged(ws: Workspace, n: int) -> None:
    users = ws.emulator.users()
    names = Counter(u["userName"] for u in users)
    assert not [k for k, v in names.items() if v > 1], "duplicate users"
    assert len(users) == n
    assert all(u["externalId"] and u["active"] for u in users)
    final = ws.run("plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr


@pytest.fixture
def ws(tmp_path, emulator, state_url) -> Workspace:
    return Workspace(tmp_path, emulator, state_url)


def test_apply_and_replan_on_each_database(ws):
    ws.write_manifest(manifest(12))
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    result = ws.run("apply", "plan.json", "--parallelism", "4")
    assert result.returncode == 0, result.stderr
    assert_converged(ws, 12)
    assert db(ws.state, "SELECT count(*) FROM managed_users") == [(12,)]
    kinds = dict(db(ws.state, "SELECT kind, count(*) FROM runs GROUP BY kind"))
    assert kinds == {"plan": 2, "apply": 1}
    listed = ws.run("state", "list")
    assert "user   E000\tuser000@example.com" in listed.stdout
    shown = ws.run("state", "show", "user001@example.com", "--format", "json")
    assert '"externalId": "E001"' in shown.stdout and '"Sales"' in shown.stdout


@pytest.mark.parametrize("tokens", ["1", "4"])
def test_chaos_run_completes_with_no_duplicates(start_emulator, tmp_path, state_url, tokens):
    # With a pool of 4 tokens the per-token limit is lower, so that it still binds.
    emu = start_emulator(
        error_rate=0.12, reset_rate=0.12, rate_limit=25 if tokens == "1" else 6,
        rate_window=2, random_seed=11,
    )  # fmt: skip
    ws = Workspace(tmp_path, emu, state_url)
    ws.write_manifest(manifest(30))
    result = ws.run(
        "apply", "--auto-approve", "--parallelism", "6", "--tokens", tokens, timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "operations succeeded" in result.stdout
    emu.emulator.config.error_rate = emu.emulator.config.reset_rate = 0
    assert_converged(ws, 30)
    assert emu.emulator.counters.injected_errors > 0 and emu.emulator.counters.injected_resets > 0
    (run,) = json.loads(ws.run("metrics", "--format", "json").stdout)
    assert run["metrics"]["rate_limit_wait_seconds"] > 1, "the rate limit should have bound"
    assert emu.member_names("Support") == {f"user{i:03}@example.com" for i in range(0, 30, 2)}


def kill_mid_apply(ws: Workspace, after_rows: int, tokens: str = "1") -> None:
    """Start an apply and SIGKILL it once the journal holds ``after_rows`` rows."""
    proc = subprocess.Popen(
        [SCIMCTL, "apply", "--auto-approve", "--parallelism", "4", "--tokens", tokens],
        cwd=ws.path, env=ws.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if db(ws.state, "SELECT count(*) FROM operations")[0][0] >= after_rows:
                break
        except sa.exc.DBAPIError:
            pass  # the schema is not there yet
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the apply finished before it could be killed"


def journal_rows(ws: Workspace) -> int:
    return db(ws.state, "SELECT count(*) FROM operations")[0][0]


@pytest.mark.parametrize(("seed", "tokens"), [(1, "1"), (2, "1"), (3, "1"), (4, "4")])
def test_sigkill_at_random_points_converges(start_emulator, tmp_path, sqlite_url, seed, tokens):
    emu = start_emulator(latency_ms=30)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest(manifest(40))
    rng = random.Random(seed)
    kill_mid_apply(ws, rng.randint(1, 50), tokens)
    kill_mid_apply(ws, journal_rows(ws) + rng.randint(1, 20), tokens)
    result = ws.run("apply", "--auto-approve", "--tokens", tokens, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "released the lock of" in result.stderr
    assert_converged(ws, 40)
    outcomes = dict(
        db(ws.state, "SELECT outcome, count(*) FROM runs WHERE kind = 'apply' GROUP BY outcome")
    )
    assert outcomes == {"crashed": 2, "succeeded": 1}


@pytest.mark.parametrize("tokens", ["1", "4"])
def test_sigkill_on_postgresql_converges(start_emulator, tmp_path, pg_url, tokens):
    emu = start_emulator(latency_ms=30)
    ws = Workspace(tmp_path, emu, pg_url)
    ws.write_manifest(manifest(40))
    kill_mid_apply(ws, 25, tokens)
    assert ws.run("apply", "--auto-approve", "--tokens", tokens, timeout=120).returncode == 0
    assert_converged(ws, 40)


def test_concurrent_applies_never_both_write(start_emulator, tmp_path, state_url):
    emu = start_emulator(latency_ms=1000)
    ws = Workspace(tmp_path, emu, state_url)
    ws.write_manifest(manifest(8))
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    first = subprocess.Popen(
        [SCIMCTL, "apply", "plan.json", "--parallelism", "1"],
        cwd=ws.path, env=ws.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not db(ws.state, "SELECT who FROM locks"):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    others = [
        subprocess.Popen(
            [SCIMCTL, "apply", "plan.json", "--lock-timeout", timeout],
            cwd=ws.path,
            env=ws.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for timeout in ("0", "60")
    ]
    # The holder stays slow until the waiter says it is waiting, however busy the
    # machine is; only then may it finish, so the waiter always meets a held lock.
    _, no_wait = others[0].communicate(timeout=60)
    lines: list[str] = []

    def read() -> None:
        assert others[1].stderr is not None
        for line in others[1].stderr:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any("waiting for the state lock" in line for line in lines):
        assert time.monotonic() < deadline and others[1].poll() is None, "".join(lines)
        time.sleep(0.05)
    emu.emulator.config.latency_ms = 20
    others[1].wait(timeout=90)
    reader.join(timeout=10)
    waited = "".join(lines)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert [p.returncode for p in others] == [1, 1]
    assert "is locked by" in no_wait and "pid" in no_wait and "since" in no_wait
    assert "waiting for the state lock held by" in waited
    assert "run plan again" in waited
    posts = emu.emulator.counters.by_route.get("POST /api/v2/scim/v2/users", 0)
    assert posts == 8, "only the lock holder wrote"
    outcomes = sorted(r[0] for r in db(ws.state, "SELECT outcome FROM runs WHERE kind = 'apply'"))
    assert outcomes == ["refused", "refused", "succeeded"]
    writers = db(ws.state, "SELECT DISTINCT run_id FROM operations")
    assert len(writers) == 1


def test_resource_changed_since_the_plan_is_refused_and_if_match_guards_the_rest(ws):
    ws.write_manifest(manifest(3))
    assert ws.run("apply", "--auto-approve").returncode == 0
    changed = manifest(3)
    for u in changed["users"]:
        u["title"] = "Lead"
    ws.write_manifest(changed)
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    target = next(u for u in ws.emulator.users() if u["externalId"] == "E001")
    with ws.emulator.http() as h:
        h.patch(
            f"/api/v2/scim/v2/Users/{target['id']}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "title", "value": "Boss"}],
            },
        ).raise_for_status()
    result = ws.run("apply", "plan.json")
    assert result.returncode == 1
    assert "~ update:user:E001: differs in changes.title.before, effects, version" in result.stderr
    assert "reverts_drift" in result.stderr  # the hand edit would be overwritten
    assert "run plan again" in result.stderr
    titles = {u["externalId"]: u["title"] for u in ws.emulator.users()}
    assert titles == {"E000": "Agent", "E001": "Boss", "E002": "Agent"}, "nothing was written"
    # A change that lands after apply's check (here the check is skipped, as a library
    # caller may) is still not overwritten: If-Match fails that one operation cleanly.
    report = apply_unchecked(ws)
    (failed,) = report.failed
    assert failed.node == "update:user:E001" and "invalidVers" in (failed.error or "")
    titles = {u["externalId"]: u["title"] for u in ws.emulator.users()}
    assert titles == {"E000": "Lead", "E001": "Boss", "E002": "Lead"}
    assert ws.run("apply", "--auto-approve").returncode == 0
    assert {u["title"] for u in ws.emulator.users()} == {"Lead"}


def test_failures_skip_dependents_and_quarantine_stops_early(workspace):
    ws = workspace
    ws.write_manifest(manifest(30, groups=("Sales",)))
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    with ws.emulator.http() as h:  # someone takes 25 of the names after the plan
        for i in range(25):
            h.post(
                "/api/v2/scim/v2/Users",
                json={"userName": f"user{i:03}@example.com", "displayName": "Taken"},
            ).raise_for_status()
    refused = ws.run("apply", "plan.json", "--parallelism", "1")
    assert refused.returncode == 1 and "+ adopt:user:E000 (live id " in refused.stderr
    # Names taken after apply's check (the check skipped here, as a library caller
    # may): the creates fail, their memberships are skipped, and the run stops early.
    report = apply_unchecked(ws, parallelism=1)
    assert report.stopped_early and "quarantine" in report.stopped_early
    assert any("is taken" in (r.error or "") for r in report.failed)
    outcomes = Counter(
        r[0] for r in db(ws.state, "SELECT outcome FROM operations WHERE phase = 'result'")
    )
    assert outcomes["failed"] >= 10 and outcomes["skipped"] >= 1


def test_state_unlock_releases_a_lock_from_elsewhere(workspace):
    ws = workspace
    ws.write_manifest(manifest(1))
    assert ws.run("db", "upgrade").returncode == 0
    engine = sa.create_engine(ws.state)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO locks (workspace, token, who, host, pid, run_id, acquired_at) "
                "VALUES (:w, 't1', 'ci', 'other-host', 1, 'r1', CURRENT_TIMESTAMP)"
            ),
            {"w": f"genesys:{ws.emulator.url}"},
        )
    engine.dispose()
    blocked = ws.run("apply", "--auto-approve")
    assert blocked.returncode == 1 and "ci@other-host pid 1" in blocked.stderr
    unlocked = ws.run("state", "unlock")
    assert "Released the lock held by ci@other-host pid 1" in unlocked.stdout
    assert ws.run("apply", "--auto-approve").returncode == 0


def test_plan_reads_pages_not_users(start_emulator, tmp_path, sqlite_url):
    seed = {
        "roles": [{"name": "Employee", "permissions": []}],
        "groups": [{"name": "Support"}, {"name": "Sales"}],
        "users": [
            {"userName": f"u{i}@example.com", "displayName": f"U{i}", "active": i % 5 != 0}
            for i in range(450)
        ],
    }
    emu = start_emulator(seed)
    ws = Workspace(tmp_path, emu, sqlite_url)
    ws.write_manifest(manifest(5))
    assert ws.run("plan").returncode == 0
    routes = emu.emulator.counters.by_route
    user_pages = routes["GET /api/v2/scim/v2/users"]
    # 360 active users and 90 inactive ones, 100 per page: 4 + 1 pages
    assert user_pages == 5
    assert routes["GET /api/v2/scim/v2/groups"] == 1
    assert routes["GET /api/v2/authorization/roles"] == 1
