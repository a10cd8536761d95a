"""The tired operator (issue 25): a mistyped state never silently becomes a new one,
global options go anywhere, bad arguments get one line, review output reads right.

The CLI runs in-process (flows.InProcess) against the emulator over loopback HTTP
and real SQLite files; the few checks that need a process of their own (a terminal,
Ctrl-C) run the installed ``scimctl``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from conftest import BASE_SEED, SCIMCTL, db, user
from flows import EmulatorWorkspace, ok

from scimctl.cli import main

SEEDED = [
    {"userName": "jane@example.com", "displayName": "Jane", "externalId": "E1"},
    {"userName": "amir@example.com", "displayName": "Amir", "externalId": "E2"},
]


def one_line(result: Any, *needles: str, code: int = 1) -> str:
    """A refusal: the exit code, one line on stderr, no traceback."""
    err = result.stderr.strip()
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def workspace(emulator, tmp_path: Path, sqlite_url: str) -> EmulatorWorkspace:
    """An existing (empty) state, the CLI run in-process."""
    return EmulatorWorkspace(tmp_path, emulator, sqlite_url)


@pytest.fixture
def fresh(start_emulator, tmp_path: Path):
    """A workspace whose --state names a database that does not exist yet."""

    def make(users: list[dict[str, Any]] | None = None, **config: Any) -> EmulatorWorkspace:
        emu = start_emulator({**BASE_SEED, "users": users or []}, **config)
        return EmulatorWorkspace(tmp_path, emu, f"sqlite:///{tmp_path / 'new.db'}")

    return make


def test_read_only_commands_never_create_a_state(fresh, tmp_path):
    ws = fresh(SEEDED)
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    for args in (
        ["history"], ["history", "verify"], ["history", "runs"], ["metrics"],
        ["state", "list"], ["state", "show", "E1"], ["drift"], ["state", "unlock"],
    ):  # fmt: skip
        one_line(ws.run(*args), "no state database at sqlite:///", "new.db")
    assert not (tmp_path / "new.db").exists()
    # The default location, from an empty directory, with CI set: refused, nothing made.
    for args in (["history"], ["history", "verify"], ["metrics"], ["state", "list"]):
        one_line(ws.run(*args, SCIMCTL_STATE="", CI="true"), "SCIMCTL_STATE is set but empty")
        env = ws.env(CI="true")
        del env["SCIMCTL_STATE"]
        result = subprocess.run(
            [SCIMCTL, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        one_line(result, "CI is set but no state was given")
    assert not (tmp_path / ".scimctl").exists()


def test_a_new_state_that_would_adopt_accounts_is_refused_unless_meant(fresh, tmp_path):
    ws = fresh(SEEDED)
    ws.write_manifest({"users": [user("E1", "jane@example.com"), user("E2", "amir@example.com")]})
    refused = ws.run("plan")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "not starting a new state at sqlite:///" in refused.stderr
    assert "the plan would adopt 2 accounts already in the directory" in refused.stderr
    assert "--new-state" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "new.db").exists()
    # apply plans the same way, and refuses the same way.
    assert ws.run("apply", "--auto-approve").returncode == 1
    assert not (tmp_path / "new.db").exists()
    # In CI, plan --detailed-exitcode is a check: it never starts a state.
    checked = ws.run("plan", "--detailed-exitcode", CI="true")
    one_line(checked, "no state database at")
    assert not (tmp_path / "new.db").exists()

    meant = ws.run("plan", "--new-state", "--out", "plan.json")
    assert meant.returncode == 0, meant.stderr
    assert "New state:" in meant.stderr and "2 to adopt" in meant.stdout
    assert (tmp_path / "new.db").exists()
    assert ws.run("plan").returncode == 0  # it exists now: no flag, no note
    assert "New state" not in ws.run("plan").stderr


def test_db_upgrade_first_makes_the_new_state_explicit(fresh):
    ws = fresh(SEEDED)
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    ok(ws, "db", "upgrade")
    planned = ws.run("plan")
    assert planned.returncode == 0 and "1 to adopt" in planned.stdout
    assert "New state" not in planned.stderr


def test_a_new_state_without_adoptions_is_started_and_said(fresh, tmp_path):
    ws = fresh([])
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    planned = ws.run("plan")
    assert planned.returncode == 0, planned.stderr
    assert "New state: there is no state database at" in planned.stderr
    assert "1 to create" in planned.stdout and (tmp_path / "new.db").exists()


def test_a_saved_plan_is_not_applied_to_a_state_that_is_not_there(fresh, tmp_path):
    ws = fresh([])
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    ok(ws, "plan", "--out", "plan.json")
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    one_line(
        ws.run("apply", "plan.json", SCIMCTL_STATE=elsewhere),
        "no state database at", "other.db", "--new-state",
    )  # fmt: skip
    assert not (tmp_path / "other.db").exists()


def test_state_locations_that_cannot_be_a_state_are_refused(fresh, tmp_path):
    ws = fresh(SEEDED)
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    for url in ("sqlite:///", "sqlite:///:memory:", "sqlite://"):
        for args in (["plan"], ["state", "list"], ["apply", "--auto-approve"], ["db", "upgrade"]):
            one_line(ws.run(*args, "--state", url), "names no file")
    typo = ws.run("plan", "--new-state", "--state", "sqlite:///nodir2/x.db")
    one_line(typo, "the directory nodir2 does not exist")
    one_line(ws.run("db", "upgrade", "--state", "sqlite:///nodir2/x.db"), "nodir2")
    assert not (tmp_path / "nodir2").exists()


def test_import_without_credentials_creates_nothing(fresh, tmp_path):
    ws = fresh(SEEDED)
    ws.write_manifest({})
    result = ws.run("import", "--out", "imported.yaml", GENESYS_CLIENT_ID="")
    one_line(result, "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET")
    assert not (tmp_path / "new.db").exists() and not (tmp_path / "imported.yaml").exists()


def test_numbers_out_of_range_are_one_line(workspace):
    huge = "100000000000"
    for args in (
        ["history", "--limit", huge], ["history", "runs", "--limit", huge],
        ["metrics", "--last", huge], ["plan", "--max-deprovision", huge],
        ["apply", "--parallelism", "0"], ["emulator", "--page-cap", huge],
    ):  # fmt: skip
        result = workspace.run(*args)
        assert result.returncode == 64, (args, result.stderr)
        assert "Invalid value for" in result.stderr and "Traceback" not in result.stderr


def test_output_paths_are_checked_before_any_work(workspace, tmp_path):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    requests = workspace.emulator.emulator.counters.requests
    one_line(workspace.run("plan", "--out", ""), "--out '' is not a usable path")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    one_line(workspace.run("plan", "--out", "loop"), "--out loop")
    one_line(workspace.run("import", "--out", "loop", "--force"), "--out loop")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere" / "x")
    one_line(workspace.run("plan", "--out", "gone"), "a symbolic link to a missing file")
    os.mkfifo(tmp_path / "fifo")
    one_line(workspace.run("plan", "--out", "fifo"), "not a regular file")
    # A special file is never replaced, --force or not (the FIFO stands in for /dev/null).
    one_line(workspace.run("import", "--out", "fifo", "--force"), "not a regular file")
    assert (tmp_path / "fifo").is_fifo()
    assert workspace.emulator.emulator.counters.requests == requests  # nothing was read


def test_special_files_are_never_read_as_plans_or_manifests(workspace, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    started = time.monotonic()
    one_line(workspace.run("show", "fifo"), "not a regular file")
    one_line(workspace.run("apply", "fifo"), "not a regular file")
    assert workspace.run("validate", "-m", "fifo").returncode == 1
    assert time.monotonic() - started < 30  # nothing blocked on the FIFO


def test_validate_reports_the_real_error_and_rfc_5321_limits(workspace, tmp_path):
    long_local = "a" * 65 + "@example.com"
    doc = {
        "version": 1,
        "target": {"api_url": workspace.emulator.url, "bogus": 1},
        "users": [user("E1", long_local), user("E2", "b" * 64 + "@example.com")],
    }
    (tmp_path / "scimctl.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = workspace.run("validate")
    assert result.returncode == 1
    assert "target.bogus" in result.stderr and "no file sets the target" not in result.stderr
    assert "the part before @ is 65 characters; RFC 5321 allows 64" in result.stderr
    assert "users[1]" not in result.stderr  # exactly 64 is fine
    assert "2 problems found" in result.stderr


def test_a_plan_for_another_login_host_names_what_differs(workspace, tmp_path):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    ok(workspace, "plan", "--out", "plan.json")
    login = workspace.emulator.url.replace("127.0.0.1", "localhost")
    workspace.write_manifest(
        {"users": [user("E1", "jane@example.com")]}
    )  # same api_url, another login host:
    path = tmp_path / "scimctl.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["target"]["login_url"] = login
    path.write_text(yaml.safe_dump(doc))
    err = one_line(workspace.run("apply", "plan.json"), "login_url")
    assert f"{login!r} in the manifest" in err and err.count(workspace.emulator.url) == 1


def test_global_options_after_the_subcommand_and_terraform_spellings(workspace, tmp_path):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    planned = workspace.run("plan", "--no-color", "--debug", "--retry-deadline", "5",
                            "-out", "plan.json", "-detailed-exitcode")  # fmt: skip
    assert planned.returncode == 2, planned.stderr
    assert "Note: scimctl spells -out as --out" in planned.stderr
    assert "Note: scimctl spells -detailed-exitcode as --detailed-exitcode" in planned.stderr
    assert (tmp_path / "plan.json").is_file()
    applied = workspace.run("apply", "--retry-deadline=5", "plan.json", "--no-color")
    assert applied.returncode == 0, applied.stderr
    assert workspace.run("history", "verify", "--debug").returncode == 0
    assert workspace.run("state", "list", "--no-color").returncode == 0
    auto = workspace.run("apply", "-auto-approve", "-target", "user:E1")
    assert auto.returncode == 0 and "Nothing to apply" in auto.stdout, auto.stderr
    bad = workspace.run("plan", "--retry-deadline", "0")
    assert bad.returncode == 64 and "'--retry-deadline'" in bad.stderr


def _hr(rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "groups": [{"name": "Support"}, {"name": "Sales"}],
        "users": [
            user(k, f"{k.lower()}@example.com", roles=roles.split(), groups=groups.split(),
                 routingSkills=[{"name": "Billing", "proficiency": 4}])
            for k, roles, groups in rows
        ],
        "policy": {"max_deprovision": "100%"},
    }  # fmt: skip


def test_needs_review_lists_the_riskiest_first_and_says_why(workspace, tmp_path):
    rows = [
        ("E1", "Employee", "Support"), ("E2", "Employee Agent", "Sales"),
        ("E3", "Employee", "Support"), ("E4", "Employee", "Sales"), ("E5", "Employee", ""),
    ]  # fmt: skip
    workspace.write_manifest(_hr(rows))
    ok(workspace, "plan", "--out", "plan.json")
    ok(workspace, "apply", "plan.json")
    doc = _hr([("E2", "Employee", "Sales"), ("E3", "Employee", ""),
               ("E4", "Employee Supervisor", "Sales"), ("E5", "Employee", "")])  # fmt: skip
    doc["users"][3]["active"] = False  # E5: leaves through the manifest
    workspace.write_manifest(doc)
    text = workspace.run("plan").stdout
    review = text.split("Needs review: ", 1)[1].split("\n\n", 2)[1]
    heads = [line.strip() for line in review.splitlines() if line.startswith("  ")]
    heads = [h for h in heads if h[:1] in "+-~<"]
    order = [re.sub(r"\s+#.*", "", h) for h in heads]
    assert order[:2] == ["- deactivate user E1 (e1@example.com)",
                         "- deactivate user E5 (e5@example.com)"], order  # fmt: skip
    # Access removed (E2's Agent role, Support's members), then access granted (E4).
    assert sorted(order[2:4]) == ["- remove 2 members from group 'Support'",
                                  "~ update user E2 (e2@example.com)"], order  # fmt: skip
    assert order[4] == "~ update user E4 (e4@example.com)", order
    assert "# removed from the manifest; policy.deprovision is deactivate" in heads[0]
    assert re.search(r"# active: false in the manifest \(scimctl.yaml:\d+\)", heads[1]), heads[1]
    assert text.count("Needs review: 5 actions that take away or change access.") == 1
    md = workspace.run("plan", "--format", "markdown").stdout
    rows_md = [line for line in md.splitlines() if re.match(r"\| (-|~) \| ", line)]
    assert "deactivate user E1" in rows_md[0] and "E4" in rows_md[-1], rows_md


def test_counts_read_right_for_zero_one_and_two(workspace):
    workspace.write_manifest(_hr([("E1", "Employee", "Support")]))
    ok(workspace, "plan", "--out", "plan.json")
    ok(workspace, "apply", "plan.json")
    listed = ok(workspace, "state", "list")
    assert "Support\t1 managed member\t" in listed and "Sales\t0 managed members\t" in listed
    one = _hr([("E1", "Employee Agent", "Support")])
    workspace.write_manifest(one)
    assert "Needs review: 1 action that takes away or changes access." in ok(workspace, "plan")
    two = _hr([("E1", "Employee Agent", "Support Sales"), ("E2", "Employee", "Support")])
    workspace.write_manifest(two)
    ok(workspace, "apply", "--auto-approve")
    listed = ok(workspace, "state", "list")
    assert "Support\t2 managed members\t" in listed and "Sales\t1 managed member\t" in listed
    workspace.write_manifest(_hr([("E1", "Employee Agent Supervisor", "Support Sales"),
                                  ("E2", "Employee Agent", "Support")]))  # fmt: skip
    assert "Needs review: 2 actions that take away or change access." in ok(workspace, "plan")


def test_skills_show_as_written_and_a_re_added_member_reverts_drift(workspace):
    workspace.write_manifest(_hr([("E1", "Employee", "Support"), ("E2", "Employee", "Support")]))
    created = ok(workspace, "plan")
    assert 'routingSkills = ["Billing:4"]' in created and '["Billing", 4.0]' not in created
    ok(workspace, "apply", "--auto-approve")
    emu = workspace.emulator
    support = emu.group("Support")
    jane = next(u for u in emu.users() if u["externalId"] == "E1")
    with emu.http() as h:
        h.patch(
            f"/api/v2/scim/v2/Groups/{support['id']}",
            json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "remove", "path": f'members[value eq "{jane["id"]}"]'}]},
        ).raise_for_status()  # fmt: skip
    assert "group:Support" in ok(workspace, "drift")
    planned = ok(workspace, "plan")
    assert "+ add 1 member to group 'Support'" in planned
    assert "effects: reverts a change made in Genesys: member e1@example.com" in planned


def test_drift_times_are_whole_seconds_in_utc(workspace):
    workspace.write_manifest(_hr([("E1", "Employee", "Support")]))
    ok(workspace, "apply", "--auto-approve")
    uid = next(u for u in workspace.emulator.users() if u["externalId"] == "E1")["id"]
    with workspace.emulator.http() as h:
        h.patch(
            f"/api/v2/scim/v2/Users/{uid}",
            json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "replace", "path": "displayName", "value": "Boss"}]},
        ).raise_for_status()  # fmt: skip
    text = workspace.run("drift").stdout
    assert re.search(r"\(changed \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", text), text
    doc = json.loads(workspace.run("drift", "--format", "json").stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["changes"][0]["changed_at"])


ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_debug_logs_and_import_headers_are_iso_8601_utc(workspace):
    """The README's one timestamp format holds for logs and written files too."""
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    logged = [line for line in workspace.run("plan", "--debug").stderr.splitlines()
              if " scimctl.http DEBUG " in line]  # fmt: skip
    assert logged and all(re.match(ISO_UTC + " scimctl.http DEBUG ", x) for x in logged), logged
    made = workspace.run("import", "--out", "imported.yaml", "--api-url", workspace.emulator.url)
    assert made.returncode == 0, made.stderr
    header = (workspace.path / "imported.yaml").read_text().splitlines()[1]
    assert re.match(rf"# on {ISO_UTC}: ", header), header


def test_no_state_is_new_warning_for_an_account_re_keyed_in_the_same_plan(seeded):
    ws = seeded([{"userName": "w@example.com", "displayName": "W", "externalId": "W1099"}])
    ws.__class__ = EmulatorWorkspace
    ws.write_manifest({"users": [user("W2001", "w@example.com", previousExternalIds=["W1099"])]})
    planned = ws.run("plan", "--detailed-exitcode")
    assert planned.returncode == 2 and "re-key" in planned.stdout
    assert "state is new" not in planned.stdout + planned.stderr


def test_history_piped_is_tab_separated_and_a_cut_list_says_so(workspace):
    workspace.write_manifest(_hr([("E1", "Employee", ""), ("E2", "Employee", "")]))
    ok(workspace, "apply", "--auto-approve")
    result = workspace.run("history", "--limit", "1")
    lines = result.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["time", "run", "actor"] and len(lines) == 2
    assert len(lines[1].split("\t")) == len(lines[0].split("\t"))
    assert "Showing the newest 1 of 2 operations: see more with --limit 2" in result.stderr
    runs = workspace.run("history", "runs", "--limit", "1")
    assert "Showing the newest 1 of 2 runs" in runs.stderr
    assert "Showing" not in workspace.run("history").stderr
    # One name for the human format; the other is accepted.
    assert workspace.run("history", "--format", "text").stdout == workspace.run("history").stdout
    assert workspace.run("state", "show", "E1", "--format", "table").returncode == 0
    assert workspace.run("metrics", "--format", "text").returncode == 0


def _on_terminal(ws: EmulatorWorkspace, columns: int, *args: str) -> str:
    """What scimctl prints on a real terminal (a pty of ``columns`` columns), escape
    sequences removed."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**ws.env(), "COLUMNS": str(columns), "TERM": "xterm-256color", "NO_COLOR": "1"}
    proc = subprocess.Popen([SCIMCTL, *args], cwd=ws.path, env=env, stdout=follower,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)  # fmt: skip
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    os.close(leader)
    if proc.stderr:
        proc.stderr.close()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode()).replace("\r\n", "\n")


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def audited(workspace: EmulatorWorkspace) -> EmulatorWorkspace:
    """Two applies from a commit, one of a userName longer than most columns."""
    long_name = "amir.khan.with.a.rather.long.name@example.com"
    jane = "jane@example.com"
    workspace.write_manifest({"users": [user("E1", long_name, title="x" * 60),
                                        user("E2", jane)]})  # fmt: skip
    assert workspace.run("apply", "--auto-approve", GITHUB_SHA=COMMIT).returncode == 0
    workspace.write_manifest({"users": [user("E1", long_name, title="Lead"),
                                        user("E2", jane, title="Agent")]})  # fmt: skip
    assert workspace.run("apply", "--auto-approve", GITHUB_SHA=COMMIT).returncode == 0
    return workspace


@pytest.mark.parametrize("columns", [80, 120])
def test_history_on_a_terminal_never_cuts_times_ids_or_user_names(audited, columns):
    ops = json.loads(ok(audited, "history", "--format", "json"))
    runs = json.loads(ok(audited, "history", "runs", "--format", "json"))
    applies = [r for r in runs if r["kind"] == "apply"]
    assert ops and len(applies) == 2 and all(r["commit"] == COMMIT for r in applies)
    names = {o["user_name"] for o in ops if o["user_name"]}
    assert "amir.khan.with.a.rather.long.name@example.com" in names

    def whole(text: str, values: set[str]) -> None:
        assert values and "…" not in text, text
        for value in values:
            assert value in text, f"{value} is not whole at {columns} columns:\n{text}"
        assert all(len(line) <= columns for line in text.splitlines()), text

    text = _on_terminal(audited, columns, "history")
    whole(text, {o["run_id"] for o in ops} | {o["at"] for o in ops} | names | {COMMIT})
    text = _on_terminal(audited, columns, "history", "runs")
    whole(text, {r["id"] for r in runs} | {r["started_at"] for r in runs} | {COMMIT})
    text = _on_terminal(audited, columns, "metrics", "--last", "2")
    whole(text, {r["id"] for r in applies} | {r["started_at"] for r in applies})
    assert not re.search(r"\d\.\d+e[+-]\d", text), text  # no 1.23457e+06
    # Piped: one tab-separated line each, every id whole.
    piped = ok(audited, "history").splitlines()
    assert {line.split("\t")[1] for line in piped[1:]} == {o["run_id"] for o in ops}
    assert {line.split("\t")[3] for line in piped[1:]} == {COMMIT}
    piped = ok(audited, "history", "runs").splitlines()
    assert {line.split("\t")[1] for line in piped[1:]} == {r["id"] for r in runs}


def test_an_interrupted_run_is_recorded_as_such(seeded, tmp_path):
    # Slow enough that the plan is still reading (its pages go several at a time) when
    # the signal comes, however busy the machine: each round of reads takes 1.5 s.
    ws = seeded(SEEDED, latency_ms=1500)
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    proc = subprocess.Popen([SCIMCTL, "plan"], cwd=tmp_path, env=ws.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if db(ws.state, "SELECT id FROM runs WHERE kind = 'plan'"):
                break
        except Exception:  # noqa: BLE001 - the table may not be there yet
            pass
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Interrupted." in err, err
    runs = json.loads(ws.run("history", "runs", "--format", "json").stdout)
    assert runs[0]["error"] == "interrupted (SIGINT)", runs[0]


def test_a_verify_that_fails_once_says_problem(workspace):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    ok(workspace, "apply", "--auto-approve")
    result = workspace.run("history", "verify", "--expect", "1:" + "0" * 64)
    assert result.returncode == 1 and "(1 problem)" in result.stderr, result.stderr


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_option_is_described_and_every_help_ends_with_an_example(workspace):
    for path, command in _commands(main):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"scimctl {' '.join(path)} {param.opts[0]} has no help"
        shown = workspace.run(*path, "-h").stdout
        last = [line for line in shown.splitlines() if line.strip()][-2:]
        assert last[0].strip() == "Example:", (path, shown)
        assert last[1].strip().startswith(f"scimctl {' '.join(path)}"), (path, shown)
        for param in command.params:
            default = getattr(param, "default", None)
            if isinstance(param, click.Option) and not param.multiple and not param.is_flag:
                if default is None or repr(default).endswith("UNSET"):  # click's "no default"
                    continue
                name = re.escape(max(param.opts, key=len))
                block = re.search(rf"^ +(-\w, )?{name}\b.*?(?=^ +-|\Z)", shown, re.M | re.S)
                assert block and "[default: " in " ".join(block[0].split()), (path, param.opts)
    plan_help = workspace.run("plan", "-h").stdout
    assert "--state URL" in plan_help and "--as-of DATE" in plan_help
    assert "--since DATE" in workspace.run("history", "-h").stdout


def test_credential_errors_name_the_providers_variables(workspace):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    for args in (["plan"], ["apply", "--auto-approve"], ["drift"], ["doctor"]):
        err = one_line(workspace.run(*args, GENESYS_CLIENT_SECRET=""), "GENESYS_CLIENT_SECRET")
        assert "SCIM_TOKEN" not in err and "SCIM_CLIENT_ID" not in err, (args, err)


def test_doctor_reachability_is_ok_only_for_an_authenticated_answer(workspace):
    workspace.write_manifest({})
    good = workspace.run("doctor")
    reach = next(line for line in good.stdout.splitlines() if "reachability" in line)
    assert reach.startswith("ok") and "(HTTP 200)" in reach, good.stdout
    bad = workspace.run("doctor", GENESYS_CLIENT_SECRET="wrong")
    reach = next(line for line in bad.stdout.splitlines() if "reachability" in line)
    assert not reach.startswith("ok"), bad.stdout
