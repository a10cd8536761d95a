"""The HTML access report of the examples/hris org in a real headless Chromium: it
renders with no console message, and the figures on the page are the JSON report's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from e2e.test_hris_example import _workspace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip


def chromium_dom(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after the page's script ran, and every console message it logged."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def test_hris_access_report_renders_in_chromium_and_matches_the_json(
    tmp_path, start_emulator, sqlite_url
):
    ws = _workspace(tmp_path, start_emulator, sqlite_url)
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # Rules added after the apply: the report shows what breaks them and the exception.
    manifest = ws.path / "scimctl.yaml"
    doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    doc["policy"]["rules"] = [
        {"id": "SUP-1", "description": "few supervisors", "role": "Supervisor", "max": 3},
        {"id": "MGR-1", "description": "agents have a manager", "when": {"role": "Agent"},
         "require": {"attribute": "manager"}},
    ]  # fmt: skip
    report = json.loads(ws.run("report", "access").stdout)
    supervisor = next(r["user"] for r in report["access"] if r["name"] == "Supervisor")
    doc["policy"]["exceptions"] = [
        {"rule": "SUP-1", "user": supervisor, "reason": "interim <lead> & \"cover\"",
         "until": "2099-01-31", "approved_by": "COO"},
    ]  # fmt: skip
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    made = ws.run("report", "access", "--format", "html", "--out", "report.html")
    assert made.returncode == 0, made.stderr
    data = json.loads(ws.run("report", "access").stdout)
    summary = data["summary"]
    assert summary["accounts"] > 200 and summary["violations"] > 0, data["rules"]
    assert summary["exceptions"] == 1

    html = (ws.path / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing to fetch
    dom, console = chromium_dom(ws.path / "report.html", tmp_path / "profile")
    assert console == []
    counts = dict(re.findall(r'id="(\w+)" data-count="(\d+)"', dom))
    assert counts == {
        "accounts": str(summary["accounts"]),
        "access": str(summary["access"]),
        "violations": str(summary["violations"]),
        "exceptions": str(summary["exceptions"]),
    }
    tables = dict(re.findall(r'<table class="sortable" id="(\w+)" data-rows="(\d+)"', dom))
    assert int(tables["access"]) == len(data["access"])
    assert int(tables["holders"]) == len(summary["holders_per_role"])
    body = dom.split('<table class="sortable" id="access"', 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr>") == len(data["access"]) + 1  # the heading row too
    holders = re.findall(
        r"<tr><td>([^<]+)</td><td>(\d+)</td></tr>",
        dom.split('id="holders"', 1)[1].split("</table>", 1)[0],
    )
    assert {r: int(n) for r, n in holders} == summary["holders_per_role"]
    bars = re.findall(r'data-week="([\d-]+)" data-changes="(\d+)"', dom)
    assert [(w, int(n)) for w, n in bars] == [
        (w["week"], w["changes"]) for w in summary["changes_per_week"]
    ]
    assert 'interim &lt;lead&gt; &amp; "cover"' in dom  # escaped, not markup


SORT_CHECK = """<script>
var holders = document.querySelector('#holders th:nth-child(2)');
holders.click(); holders.click(); holders.click();
var access = document.querySelector('#access th:nth-child(4)');
access.click();
document.body.setAttribute('data-holders-order', Array.prototype.map.call(
  document.querySelectorAll('#holders tbody tr td:nth-child(2)'),
  function(td){return td.textContent;}).join(','));
document.body.setAttribute('data-holders-sort', holders.getAttribute('aria-sort'));
document.body.setAttribute('data-access-rows', document.querySelector('#access tbody').rows.length);
</script>"""


def test_tables_sort_when_a_heading_is_clicked(tmp_path, start_emulator, sqlite_url):
    """The page's own script, driven by clicks added to a copy of the page."""
    ws = _workspace(tmp_path, start_emulator, sqlite_url)
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    assert ws.run("apply", "plan.json").returncode == 0
    made = ws.run("report", "access", "--format", "html", "--out", "report.html")
    assert made.returncode == 0, made.stderr
    data = json.loads(ws.run("report", "access").stdout)
    page = (ws.path / "report.html").read_text(encoding="utf-8")
    clicked = ws.path / "clicked.html"
    clicked.write_text(page.replace("</body>", SORT_CHECK + "</body>"), encoding="utf-8")
    dom, console = chromium_dom(clicked, tmp_path / "profile")
    assert console == []
    counts = sorted(data["summary"]["holders_per_role"].values())
    assert 'data-holders-sort="ascending"' in dom  # three clicks: up, down, up
    assert f'data-holders-order="{",".join(map(str, counts))}"' in dom
    assert f'data-access-rows="{len(data["access"])}"' in dom


def test_a_script_error_would_be_seen(tmp_path):
    """The console check above can fail: a page that throws is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefinedFunction()</script>")
    _, console = chromium_dom(page, tmp_path / "profile")
    assert any("undefinedFunction" in line for line in console)
