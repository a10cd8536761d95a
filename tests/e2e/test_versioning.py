"""Which scimctl made a change: --version, saved plans, runs in the history, metrics.

An auditor must be able to tell which release planned and applied a change, and an
operator must not apply a plan with a scimctl that reads it differently.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from conftest import SCIMCTL, Workspace, user

import scimctl
from scimctl.plan import integrity


def reseal(path: Path, **changes: object) -> None:
    """Rewrite a saved plan as another scimctl would have written it."""
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(integrity.seal(doc), indent=2))


def test_version_names_the_release_and_the_commit():
    out = subprocess.run([SCIMCTL, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"scimctl {scimctl.__version__}")
    assert scimctl.__version__ != "0.0.0+unknown", "the build wrote no version file"
    # Built from git: the commit it was built from is part of the answer.
    assert re.search(r"\(commit [0-9a-f]{7,40}\)$", out.stdout.strip()), out.stdout


def test_plans_runs_and_metrics_record_the_version(workspace: Workspace):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    planned = workspace.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    assert json.loads((workspace.path / "plan.json").read_text())["scimctl_version"] == (
        scimctl.__version__
    )
    applied = workspace.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stderr

    runs = json.loads(workspace.run("history", "runs", "--format", "json").stdout)
    assert {r["kind"] for r in runs} >= {"plan", "apply"}
    assert {r["scimctl_version"] for r in runs} == {scimctl.__version__}
    apply_run = next(r for r in runs if r["kind"] == "apply")
    shown = workspace.run("history", "show", apply_run["id"])
    assert f"scimctl {scimctl.__version__}" in shown.stdout

    metrics = json.loads(workspace.run("metrics", "--format", "json").stdout)
    assert metrics[0]["scimctl_version"] == scimctl.__version__
    prom = workspace.run("metrics", "--format", "prometheus").stdout
    assert (
        f'scimctl_build_info{{commit="{scimctl.__commit__}",version="{scimctl.__version__}"}}'
        in (prom)
    )
    # The version is in the hash chain: the chain still verifies with it.
    assert workspace.run("history", "verify").returncode == 0


def test_a_plan_from_another_version_applies_only_in_the_same_format(workspace: Workspace):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    assert workspace.run("plan", "--out", "plan.json").returncode == 0
    plan = workspace.path / "plan.json"

    reseal(plan, scimctl_version="0.0.9", format_version=1)
    refused = workspace.run("apply", "plan.json")
    assert refused.returncode == 1
    assert "made by scimctl 0.0.9 in plan format 1" in refused.stderr
    assert f"this is scimctl {scimctl.__version__}, which reads plan format 2" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert workspace.emulator.users() == []

    reseal(plan, scimctl_version="0.0.9", format_version=2)
    applied = workspace.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stderr
    assert [u["userName"] for u in workspace.emulator.users()] == ["jane@example.com"]


def test_db_upgrade_builds_the_newest_schema(state_url):
    """`scimctl db upgrade` from the installed package: its migrations are all there."""
    from conftest import db

    from scimctl.state.db import SCHEMA_HEAD

    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SCIMCTL_STATE")}
    out = subprocess.run(
        [SCIMCTL, "db", "upgrade", "--state", state_url],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert db(state_url, "SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
    assert db(state_url, "SELECT scimctl_version FROM runs") == []
