"""The example GitHub workflow, its own shell steps run against the emulator.

Each step's ``run:`` block is taken from the YAML and run the way a runner runs it
(``bash --noprofile --norc -eo pipefail``), in a directory laid out like a
checkout of the repository, with the job's and step's ``env:`` (secrets filled
in). Artifacts are handed over by copying the uploaded directory, as
upload/download-artifact would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CLIENT_ID, CLIENT_SECRET, SCIMCTL, Workspace, user

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = ROOT / "examples" / "github-actions" / ".github"

WORKFLOW = yaml.safe_load((EXAMPLE / "workflows" / "scimctl.yml").read_text())

EXPR = re.compile(r"\$\{\{\s*(secrets|vars)\.(\w+)\s*\}\}")


def step(job: str, ident: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A job and one of its steps, by the step's id or name."""
    spec = WORKFLOW["jobs"][job]
    for s in spec["steps"]:
        if ident in (s.get("id"), s.get("name")):
            return spec, s
    raise KeyError(f"{job} has no step {ident!r}")


class Runner:
    """Runs workflow steps in checkouts under ``root``, with these secrets."""

    def __init__(self, root: Path, secrets: dict[str, str]) -> None:
        self.root = root
        self.secrets = secrets

    def checkout(self, name: str, manifest: dict[str, Any]) -> Path:
        repo = self.root / name
        repo.mkdir()
        shutil.copytree(EXAMPLE, repo / ".github")
        (repo / "scimctl.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        return repo

    def resolve(self, env: dict[str, Any]) -> dict[str, str]:
        out = {}
        for key, value in env.items():
            value = EXPR.sub(lambda m: self.secrets[m.group(2)], str(value))
            assert "${{" not in value, f"{key}: an expression the test cannot fill: {value}"
            out[key] = value
        return out

    def run(
        self, repo: Path, job: str, ident: str, **extra: str
    ) -> tuple[int, dict[str, str], str]:
        """Run one step; return its exit code, its outputs and its output text."""
        spec, s = step(job, ident)
        outputs = repo / f".outputs-{job}-{ident}".replace(" ", "-")
        outputs.write_text("")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "SCIMCTL_"))}
        env = {
            **base,
            "PATH": f"{Path(SCIMCTL).parent}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(repo / ".summary.md"),
            "GITHUB_RUN_ID": "4242",
            **self.resolve(spec.get("env", {})),
            **self.resolve(s.get("env", {})),
            **extra,
        }
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]],
            cwd=repo, env=env, capture_output=True, text=True, timeout=180,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        values = dict(
            line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line
        )
        return proc.returncode, values, proc.stdout + proc.stderr


def manifest(url: str, *keys: str, groups: tuple[str, ...] = ("Support",)) -> dict[str, Any]:
    return {
        "version": 1,
        "target": {"api_url": url},
        "groups": [{"name": g} for g in groups],
        "users": [user(k, f"{k.lower()}@example.com", groups=["Support"]) for k in keys],
    }


def hand_over(src: Path, dst: Path) -> None:
    """What upload-artifact in one job and download-artifact in another amount to."""
    shutil.copytree(src, dst)


def names(ws: Workspace) -> set[str]:
    return {u["userName"] for u in ws.emulator.users()}


@pytest.fixture
def runner(tmp_path, emulator, sqlite_url) -> tuple[Runner, Workspace]:
    secrets = {
        "GENESYS_READONLY_CLIENT_ID": CLIENT_ID,
        "GENESYS_READONLY_CLIENT_SECRET": CLIENT_SECRET,
        "SCIMCTL_STATE_PLAN": sqlite_url,
        "GENESYS_WRITE_CLIENT_ID": CLIENT_ID,
        "GENESYS_WRITE_CLIENT_SECRET": CLIENT_SECRET,
        "SCIMCTL_STATE_APPLY": sqlite_url,
        "SCIMCTL_SOURCE": "scimctl",
        "SCIMCTL_WHEEL_SHA256": "",
    }
    return Runner(tmp_path, secrets), Workspace(tmp_path, emulator, sqlite_url)


def test_plan_merge_race_refusal_approval_apply(runner):
    run, ws = runner
    url = ws.emulator.url
    boot = ws.path / "boot"
    boot.mkdir()
    (boot / "scimctl.yaml").write_text(yaml.safe_dump(manifest(url, "E1")))
    done = subprocess.run([SCIMCTL, "apply", "--auto-approve"], cwd=boot, env=ws.env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr

    # Pull request B adds E2; its plan job comments and uploads the plan.
    pr_b = run.checkout("pr-b", manifest(url, "E1", "E2"))
    code, out, log = run.run(pr_b, "plan", "plan")
    assert code == 0 and out["exitcode"] == "2", log
    assert "create" in (pr_b / "scimctl-plan" / "comment.md").read_text()
    assert (pr_b / "scimctl-plan" / "plan.json").exists()

    # Pull request C (adds E3) is planned, merged and applied first.
    pr_c = run.checkout("pr-c", manifest(url, "E1", "E3"))
    assert run.run(pr_c, "plan", "plan")[0] == 0
    main_c = run.checkout("main-c", manifest(url, "E1", "E3"))
    hand_over(pr_c / "scimctl-plan", main_c / "reviewed")
    code, out, log = run.run(main_c, "apply", "apply")
    assert code == 0 and out["outcome"] == "applied", log
    assert names(ws) == {"e1@example.com", "e3@example.com"}

    # B is merged now: its reviewed plan is stale, so the apply job refuses it,
    # publishes the plan that would run now, and changes nothing.
    main_b = run.checkout("main-b", manifest(url, "E1", "E2", "E3"))
    hand_over(pr_b / "scimctl-plan", main_b / "reviewed")
    code, out, log = run.run(main_b, "apply", "apply")
    assert code == 1, log
    assert out == {"outcome": "needs-approval", "replan": "true"}
    comment = (main_b / "scimctl-new-plan" / "comment.md").read_text()
    assert "the reviewed plan was not applied" in comment
    assert "~ state: the plan was made against state" in comment
    assert "scimctl-approval" in comment and "create user E2" in comment
    assert "e2@example.com" not in names(ws)

    # A reviewer approves; the approved plan is applied, recomputed once more.
    assert run.run(main_b, "approve", "Approved")[0] == 0
    hand_over(main_b / "scimctl-new-plan", main_b / "approved")
    code, out, log = run.run(main_b, "apply-approved", "apply")
    assert code == 0 and out["outcome"] == "applied", log
    assert names(ws) == {"e1@example.com", "e2@example.com", "e3@example.com"}
    assert ws.emulator.member_names("Support") == names(ws)
    final = subprocess.run([SCIMCTL, "plan", "--detailed-exitcode"], cwd=main_b, env=ws.env(),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert final.returncode == 0, final.stdout


def test_failed_plan_still_writes_the_comment_with_the_error(runner):
    run, ws = runner
    broken = manifest(ws.emulator.url, "E1", groups=("Support", "No Such Group"))
    pr = run.checkout("pr", broken)
    code, out, log = run.run(pr, "plan", "plan")
    assert code == 1 and out["exitcode"] == "1", log
    comment = (pr / "scimctl-plan" / "comment.md").read_text()
    assert comment.startswith("### scimctl plan failed")
    assert "No Such Group" in comment and CLIENT_SECRET not in comment
    assert not (pr / "scimctl-plan" / "plan.json").exists()


def test_missing_state_secret_fails_the_plan_job_loudly(runner):
    run, ws = runner
    run.secrets["SCIMCTL_STATE_PLAN"] = ""  # what an unset secret expands to
    pr = run.checkout("pr", manifest(ws.emulator.url, "E1"))
    code, _, log = run.run(pr, "plan", "plan")
    assert code == 1
    assert "SCIMCTL_STATE is set but empty" in (pr / "scimctl-plan" / "comment.md").read_text()
    assert not (pr / ".scimctl").exists()


def test_a_tampered_artifact_is_refused_and_replanned_for_approval(runner):
    run, ws = runner
    url = ws.emulator.url
    pr = run.checkout("pr", manifest(url, "E1"))
    assert run.run(pr, "plan", "plan")[0] == 0
    plan = pr / "scimctl-plan" / "plan.json"
    doc = json.loads(plan.read_text())
    doc["actions"][0]["changes"]["displayName"]["after"] = "Mallory"
    plan.write_text(json.dumps(doc))
    main = run.checkout("main", manifest(url, "E1"))
    hand_over(pr / "scimctl-plan", main / "reviewed")
    code, out, log = run.run(main, "apply", "apply")
    assert code == 1 and out["replan"] == "true", log
    assert "edited or damaged" in (main / "scimctl-new-plan" / "comment.md").read_text()
    assert names(ws) == set()


@pytest.mark.parametrize("source", ["scimctl", "scimctl==0.1.0", "git+https://github.com/x/y"])
def test_install_refuses_an_unpinned_source(runner, source):
    run, ws = runner
    run.secrets["SCIMCTL_SOURCE"] = source
    repo = run.checkout("repo", manifest(ws.emulator.url))
    code, _, log = run.run(repo, "plan", "Install scimctl (pinned)")
    assert code == 1 and "must be a git URL pinned with @<tag or commit>" in log


def test_install_sh_installs_the_pinned_wheel_and_the_workflow_runs_with_it(runner, built_wheel):
    wheel = built_wheel
    """install.sh with a wheel and its sha256: the locked dependencies, then that scimctl,
    which the next steps find on PATH (through GITHUB_PATH) and plan with."""
    run, ws = runner
    repo = run.checkout("repo", manifest(ws.emulator.url, "E1"))
    venv = run.root / "installed"
    shutil.copy(wheel, repo / wheel.name)
    run.secrets["SCIMCTL_SOURCE"] = wheel.name
    run.secrets["SCIMCTL_WHEEL_SHA256"] = "0" * 64
    code, _, log = run.run(repo, "plan", "Install scimctl (pinned)", SCIMCTL_VENV=str(venv))
    assert code != 0 and "FAILED" in log and not venv.exists(), log

    run.secrets["SCIMCTL_WHEEL_SHA256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    path_file = repo / ".github-path"
    code, _, log = run.run(
        repo, "plan", "Install scimctl (pinned)",
        SCIMCTL_VENV=str(venv), GITHUB_PATH=str(path_file),
    )  # fmt: skip
    assert code == 0, log
    assert path_file.read_text().strip() == str(venv / "bin")
    assert (venv / "bin" / "scimctl").exists()
    assert "No broken requirements found." in log
    # The dependencies are exactly the locked ones.
    frozen = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.lower()  # fmt: skip
    lock = (EXAMPLE / "scimctl" / "constraints.txt").read_text().lower()
    for pin in ("sqlalchemy==", "httpx==", "pydantic==", "click=="):
        locked = next(line.split()[0] for line in lock.splitlines() if line.startswith(pin))
        assert locked in frozen, (locked, frozen)

    code, out, log = run.run(
        repo, "plan", "plan", PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    )
    assert code == 0 and out["exitcode"] == "2", log
    assert "e1@example.com" in (repo / "scimctl-plan" / "comment.md").read_text()


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_comment_is_updated_in_place(tmp_path):
    """comment.js against a fake GitHub API: one comment per marker, edited on reruns."""
    (tmp_path / "comment.md").write_text("first plan")
    driver = tmp_path / "drive.js"
    driver.write_text(
        """
const upsert = require(process.argv[2]);
const comments = [{ id: 1, user: { type: 'User' }, body: '<!-- scimctl-plan -->\\nfake' }];
const calls = [];
const github = {
  paginate: async () => comments,
  rest: { issues: {
    listComments: () => {},
    createComment: async (a) => { calls.push(['create', a.body]);
      comments.push({ id: 2, user: { type: 'Bot' }, body: a.body }); return { data: { id: 2 } }; },
    updateComment: async (a) => { calls.push(['update', a.comment_id, a.body]); },
  } },
};
const context = { serverUrl: 'https://github.com', runId: 7, repo: { owner: 'o', repo: 'r' } };
const core = { info: () => {} };
(async () => {
  const fs = require('fs');
  await upsert({ github, context, core }, { issue: 3, marker: 'scimctl-plan', path: 'comment.md' });
  fs.writeFileSync('comment.md', 'x'.repeat(70000));
  await upsert({ github, context, core }, { issue: 3, marker: 'scimctl-plan', path: 'comment.md' });
  await upsert({ github, context, core }, { issue: 3, marker: 'scimctl-plan', path: 'missing.md' });
  console.log(JSON.stringify(calls));
})();
"""
    )
    proc = subprocess.run(
        [NODE or "node", str(driver), str(EXAMPLE / "scimctl" / "comment.js")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = json.loads(proc.stdout)
    assert [c[0] for c in calls] == ["create", "update", "update"]
    assert calls[0][1].startswith("<!-- scimctl-plan -->\nfirst plan")
    assert calls[1][1] == 2 and len(calls[1][2]) <= 65536 and "Cut to fit" in calls[1][2]
    assert "The job failed before it wrote missing.md" in calls[2][2]
