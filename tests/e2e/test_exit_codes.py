"""Exit codes a script can branch on: 2 means "changes present" and nothing else.

Before, click's usage errors exited 2, so ``drift --detailed-exitcode --no-such-flag``
looked like drift to a CI job. Every command is run here, as users run it.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import SCIMCTL, user
from unit.test_exit_codes import COMMANDS

USAGE = 64  # BSD's EX_USAGE

ERROR = 1

CHANGES = 2


def test_a_usage_error_never_exits_2_under_detailed_exitcode(workspace):
    """Each command with an option it does not have, after --detailed-exitcode (which
    plan and drift take, and the others do not): the usage error's code, 64."""
    procs = {
        args: subprocess.Popen(
            [SCIMCTL, *args, "--detailed-exitcode", "--no-such-flag"],
            cwd=workspace.path,
            env=workspace.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for args in COMMANDS
    }
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == USAGE, (args, proc.returncode, out, err)
        assert "No such option" in err and "Traceback" not in err, (args, err)


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "--detailed-exitcode", "--tokens", "nope"),  # a bad value
        ("drift", "--detailed-exitcode", "--format", "yaml"),  # a bad choice
        ("show",),  # a missing argument
        ("no-such-command",),
        ("--no-such-global", "plan", "--detailed-exitcode"),
    ],
)
def test_other_usage_errors_exit_64(workspace, args):
    result = workspace.run(*args)
    assert result.returncode == USAGE, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_an_unreachable_target_under_detailed_exitcode_is_an_error_not_changes(
    workspace, refused_port, command
):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    manifest = (workspace.path / "scimctl.yaml").read_text()
    (workspace.path / "scimctl.yaml").write_text(
        manifest.replace(workspace.emulator.url, f"http://127.0.0.1:{refused_port}")
    )
    result = workspace.run(command, "--detailed-exitcode", "--retry-deadline", "1")
    assert result.returncode == ERROR, (result.stdout, result.stderr)
    assert "connection refused" in result.stderr and "Traceback" not in result.stderr


def test_changes_still_exit_2(workspace):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    assert workspace.run("plan", "--detailed-exitcode").returncode == CHANGES
