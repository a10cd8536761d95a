"""The installed command against a hostile target: a representative subset of
tests/e2e/test_hostile_target.py end to end, for plan, apply, import, drift and doctor.

Each run ends in one line within its deadline, under 300 MB resident (measured by
the wrapper process's ``RUSAGE_CHILDREN``: the peak of the scimctl it waited for),
with no traceback, and leaves the state consistent: a plan or apply run recorded as
failed, ``history verify`` passing.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml
from conftest import SCIMCTL, db, user
from hostile import Handler, Hostile

from e2e.test_hostile_target import USERS, on, repeated_page

RSS_LIMIT_KB = 300 * 1024
ROLES = "/api/v2/authorization/roles"
MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(f'maxrss={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)
ROWS = {
    "never answers": lambda h, m, p: (h.hang(), True)[1],
    "token Content-Length 2 GiB": on("/oauth/token", lambda h: h.endless(2**31)),
    "endless chunked listing": on(USERS, Handler.endless),
    "listing drips": on(USERS, Handler.drip),
    "totalResults 10^12, same page": on(USERS, repeated_page),
    "roles total 10^9": on(
        ROLES, lambda h: h.json({"total": 10**9, "entities": [{"id": "r", "name": "R"}]})
    ),
}


@pytest.fixture
def hostile_ws(seeded):
    ws = seeded([{"userName": "old@example.com", "displayName": "Old", "externalId": "E0"}])
    with Hostile(ws.emulator.url) as hostile:
        doc = {
            "version": 1,
            "target": {"api_url": hostile.url},
            "users": [user("E1", "new@example.com", roles=["Employee"])],
        }
        (ws.path / "scimctl.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        yield ws, hostile


def run(ws, *args: str) -> tuple[subprocess.CompletedProcess[str], int, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, SCIMCTL, "--retry-deadline", "2", *args],
        cwd=ws.path, env=ws.env(SCIMCTL_MAX_ANSWER_MB="1"),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    *rest, last = result.stderr.rstrip("\n").split("\n")
    assert last.startswith("maxrss="), result.stderr
    result.stderr = "\n".join(rest)
    return result, int(last.removeprefix("maxrss=")), time.monotonic() - started


COMMANDS = {
    "plan": ["plan"],
    "apply": ["apply", "plan.json"],
    "import": ["import", "--out", "imported.yaml"],
    "drift": ["drift"],
    "doctor": ["doctor"],
}
CASES = [("plan", row) for row in ROWS] + [
    (command, row)
    for command in ("apply", "import", "drift", "doctor")
    for row in ("never answers", "endless chunked listing")
]


@pytest.mark.parametrize(("command", "row"), CASES)
def test_a_hostile_target_ends_each_command_in_one_line(hostile_ws, command, row):
    ws, hostile = hostile_ws
    if command == "apply":
        planned = ws.run("plan", "--out", "plan.json")
        assert planned.returncode == 0, planned.stderr
    hostile.behaviour = ROWS[row]
    result, rss_kb, took = run(ws, *COMMANDS[command])
    hostile.behaviour = None
    err = result.stderr.strip()
    assert result.returncode == 1, (result.stdout, err)
    assert "Traceback" not in err and "Traceback" not in result.stdout
    assert took < 30, f"{command} / {row} took {took:.0f}s"
    assert rss_kb < RSS_LIMIT_KB, f"{command} / {row}: {rss_kb // 1024} MB resident"
    if command == "doctor":
        assert "fail" in result.stdout and err.startswith("Error: ") and err.count("\n") == 0
    else:
        assert err.startswith("Error: ") and err.count("\n") == 0, err
    if command in ("plan", "apply"):
        outcome = db(ws.state, "SELECT outcome FROM runs WHERE kind = :k ORDER BY started_at DESC",
                     k=command)  # fmt: skip
        assert outcome and outcome[0][0] in ("error", "failed"), outcome  # plan: error
    verified = ws.run("history", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert hostile.writes() == [] or command == "apply"


def test_timeout_stops_the_whole_command(hostile_ws):
    ws, hostile = hostile_ws
    hostile.behaviour = on(USERS, Handler.hang)
    started = time.monotonic()
    result = ws.run("plan", "--timeout", "3")  # a global option, given after the command
    hostile.behaviour = None
    assert time.monotonic() - started < 20
    err = result.stderr.strip()
    assert result.returncode == 1 and err.count("\n") == 0, err
    assert "the command's --timeout of 3s has passed; stopping" in err
    assert ws.run("history", "verify").returncode == 0


def test_writes_answered_endlessly_fail_the_run_and_nothing_is_lost(hostile_ws):
    ws, hostile = hostile_ws
    planned = ws.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr

    def endless_writes(handler: Handler, method: str, raw: str) -> bool:
        if method in ("POST", "PATCH") and "oauth" not in raw:
            handler.endless()
            return True
        return False

    hostile.behaviour = endless_writes
    result, rss_kb, took = run(ws, "apply", "plan.json")
    hostile.behaviour = None
    out = result.stdout + result.stderr
    assert result.returncode == 4, out  # apply ran; its operation failed
    assert "Traceback" not in out and "the answer passed 1 MB" in out, out
    assert rss_kb < RSS_LIMIT_KB and took < 60
    outcome = db(ws.state, "SELECT outcome FROM runs WHERE kind = 'apply'")
    assert outcome == [("failed",)], outcome
    assert ws.run("history", "verify").returncode == 0
