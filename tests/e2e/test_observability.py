"""Prometheus export, metrics queries, credentials in webhook URLs, output conventions."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import SCIMCTL, Workspace, user

from e2e.test_records import WEBHOOK_SECRET, Receiver, dump_database, manifest
from scimctl.text import mask_url

PROMTOOL = shutil.which("promtool")


@pytest.fixture
def ws(tmp_path, emulator, state_url) -> Workspace:
    return Workspace(tmp_path, emulator, state_url)


def people(n: int = 4, title: str = "Agent") -> dict:
    return {
        "groups": [{"name": "Support"}],
        "users": [
            user(f"E{i}", f"p{i}@example.com", title=title, groups=["Support"]) for i in range(n)
        ],
    }


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_prometheus_export_passes_promtool_and_has_no_run_ids(ws):
    ws.write_manifest(people())
    assert ws.run("apply", "--auto-approve").returncode == 0
    wsl = f'workspace="genesys:{ws.emulator.url}"'
    applied = samples(ws.run("metrics", "--format", "prometheus").stdout)
    assert applied[f"scimctl_pending_changes{{{wsl}}}"] == 0  # its plan was applied
    ws.write_manifest(people(title="Lead"))
    assert ws.run("plan").returncode == 0  # 4 pending changes
    # A refused apply (someone holds the lock) is counted too.
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
    assert ws.run("apply", "--auto-approve").returncode == 1

    result = ws.run("metrics", "--format", "prometheus")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    run_ids = [r["id"] for r in json.loads(ws.run("history", "runs", "--format", "json").stdout)]
    assert run_ids and not any(r in text for r in run_ids) and "run_id" not in text
    for line in text.splitlines():
        if line.startswith("# TYPE") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line
    got = samples(text)
    assert got[f"scimctl_managed_users{{{wsl}}}"] == 4
    assert got[f"scimctl_pending_changes{{{wsl}}}"] == 4
    assert got[f'scimctl_operations_total{{action="create",outcome="ok",{wsl}}}'] == 4
    assert got[f'scimctl_runs_total{{kind="apply",outcome="refused",{wsl}}}'] == 1
    assert got[f'scimctl_runs_total{{kind="apply",outcome="succeeded",{wsl}}}'] == 1
    last_ok = got[f"scimctl_last_successful_apply_timestamp_seconds{{{wsl}}}"]
    assert abs(last_ok - datetime.now(UTC).timestamp()) < 3600
    refused = f'scimctl_last_run_timestamp_seconds{{kind="apply",outcome="refused",{wsl}}}'
    assert got[refused] >= last_ok
    inf = f'scimctl_operation_duration_seconds_bucket{{action="create",le="+Inf",{wsl}}}'
    assert got[inf] == 4
    assert f'scimctl_operation_duration_seconds_count{{action="create",{wsl}}}' in got
    assert f"scimctl_apply_duration_seconds_count{{{wsl}}}" in got
    assert "# HELP scimctl_http_requests_total " in text

    # A title changed by hand in Genesys: the daily drift check finds it, and the gauge says so.
    jane = next(u for u in ws.emulator.users() if u["userName"].startswith("p0"))
    with ws.emulator.http() as h:
        h.patch(
            f"/api/v2/scim/v2/Users/{jane['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "By hand"}],
            },
        ).raise_for_status()
    assert ws.run("drift", "--detailed-exitcode").returncode == 2
    text = ws.run("metrics", "--format", "prometheus").stdout
    assert samples(text)[f"scimctl_drift_detected{{{wsl}}}"] == 1

    if PROMTOOL is None:
        pytest.skip("promtool is not installed (apt-get install prometheus); format not linted")
    lint = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), (
        lint.stdout + lint.stderr
    )


def test_promtool_does_catch_a_bad_exposition():
    """The lint above can fail: promtool flags what the old hand-written output did."""
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    bad = '# TYPE scimctl_run_operations counter\nscimctl_run_operations{run_id="x"} 1\n'
    lint = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=bad, capture_output=True, text=True, timeout=60
    )
    assert lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip()


def test_metrics_filters_by_kind_before_the_limit_and_explains_a_refused_apply(ws):
    ws.write_manifest(people(2))
    assert ws.run("apply", "--auto-approve").returncode == 0
    engine = sa.create_engine(ws.state)
    later = datetime(2099, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, workspace, kind, started_at, finished_at, outcome) "
                "VALUES (:id, 'genesys:x', 'plan', :t, :t, 'no-changes')"
            ),
            [{"id": str(uuid.uuid4()), "t": later} for _ in range(1_005)],
        )
    engine.dispose()
    shown = ws.run("metrics")
    assert shown.returncode == 0
    assert "No apply runs" not in shown.stdout and "requests_total" in shown.stdout

    # The lock is held elsewhere: the refused apply is the last one, and says why.
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
    ws.write_manifest(people(3))
    assert ws.run("apply", "--auto-approve").returncode == 1
    after = ws.run("metrics")
    assert "refused" in after.stdout and "no operations ran" in after.stdout
    assert "is locked by ci@other-host pid 1" in after.stdout
    doc = json.loads(ws.run("metrics", "--last", "2", "--format", "json").stdout)
    assert [d["outcome"] for d in doc] == ["refused", "succeeded"]


def test_credentials_in_the_webhook_url_are_masked_everywhere(tmp_path, emulator, sqlite_url):
    ws = Workspace(tmp_path, emulator, sqlite_url)
    receiver = Receiver()
    try:
        token, password = "tok-9c1d-webhook-query", "pw-44e1-webhook-basic"
        host = receiver.url.removeprefix("http://")
        url = f"http://hruser:{password}@{host}?token={token}"
        doc = manifest(None, n=3)
        doc["hris"] = {"webhook_url": url}
        ws.write_manifest(doc)
        env: dict[str, Any] = {"SCIMCTL_WEBHOOK_SECRET": WEBHOOK_SECRET}
        receiver.down = True
        outputs = [ws.run("plan", "--out", "plan.json", **env)]
        plan_text = (ws.path / "plan.json").read_text()
        assert mask_url(url) in plan_text and "token=***" in plan_text
        outputs.append(ws.run("show", "plan.json", "--format", "json"))
        outputs.append(ws.run("apply", "plan.json", **env))
        assert outputs[-1].returncode == 0, outputs[-1].stderr
        assert "3 pending" in outputs[-1].stderr and "token=***" in outputs[-1].stderr
        outputs.append(ws.run("hris", "deliver", **env))
        assert outputs[-1].returncode == 1
        receiver.down = False
        outputs.append(ws.run("hris", "deliver", **env))
        assert outputs[-1].returncode == 0, outputs[-1].stderr
        # The real URL (with its token) was used: the receiver saw the request.
        assert len(receiver.events()) == 3
        outputs += [
            ws.run("history", "--format", "json"),
            ws.run("history", "runs", "--format", "json"),
            ws.run("metrics", "--last", "5", "--format", "json"),
        ]
        texts = [dump_database(ws.state), plan_text] + [o.stdout + o.stderr for o in outputs]
        assert "***" in dump_database(ws.state)  # outbox.last_error names the masked URL
        for text in texts:
            assert token not in text and password not in text
    finally:
        receiver.server.shutdown()


ISO_ANYWHERE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?(Z|[+-]\d\d:?\d\d)?")


def test_output_conventions(ws):
    doc = people(2)
    doc["users"][0]["displayName"] = "Zoë Ångström"
    ws.write_manifest(doc)
    assert ws.run("apply", "--auto-approve").returncode == 0

    for args in (["-h"], ["history", "-h"], ["state", "show", "-h"]):
        helped = ws.run(*args)
        assert helped.returncode == 0 and "Usage:" in helped.stdout, args
    top = ws.run("--help").stdout
    assert "..." not in top.split("Commands:")[1]
    from scimctl.cli import main

    for name, cmd in main.commands.items():
        first = (cmd.help or "").strip().splitlines()[0]
        assert " ".join(first.split()) in " ".join(top.split()), name

    shown = ws.run("state", "show", "E0")
    assert shown.returncode == 0
    assert re.search(r"^externalId\s+E0$", shown.stdout, re.M)
    assert "Zoë Ångström" in shown.stdout and "{" not in shown.stdout.splitlines()[0]
    as_json = json.loads(ws.run("state", "show", "p0@example.com", "--format", "json").stdout)
    assert as_json["attributes"]["displayName"] == "Zoë Ångström"
    assert "Zoë" in ws.run("state", "show", "E0", "--format", "json").stdout

    outputs = [
        shown.stdout,
        ws.run("history").stdout,
        ws.run("history", "--format", "json").stdout,
        ws.run("history", "runs").stdout,
        ws.run("history", "runs", "--format", "json").stdout,
        ws.run("metrics").stdout,
        ws.run("metrics", "--format", "json").stdout,
    ]
    run_id = json.loads(outputs[-1])[0]["run_id"]
    outputs += [ws.run("history", "show", run_id).stdout]
    outputs += [ws.run("history", "show", run_id, "--format", "json").stdout]
    stamps = [m.group(0) for text in outputs for m in ISO_ANYWHERE.finditer(text)]
    assert stamps
    bad = [s for s in stamps if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s)]
    assert not bad, bad


def run_on_terminal(ws: Workspace, *args: str, **env: str) -> str:
    """Run scimctl with a pseudo-terminal as its output, so it may use colour."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [SCIMCTL, *args], cwd=ws.path, env=ws.env(**env), stdin=subprocess.DEVNULL,
        stdout=secondary, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(primary)
    return b"".join(chunks).decode(errors="replace")


COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colours and bold, not cursor movement


def test_no_color_and_the_no_color_option(ws):
    ws.write_manifest(people(2))
    coloured = run_on_terminal(ws, "plan")
    assert COLOUR.search(coloured), "on a terminal the plan is coloured"
    assert not COLOUR.search(run_on_terminal(ws, "plan", NO_COLOR="1"))
    assert not COLOUR.search(run_on_terminal(ws, "--no-color", "plan"))
    failed = run_on_terminal(ws, "--no-color", "state", "show", "nobody")
    assert "Error:" in failed and not COLOUR.search(failed)
