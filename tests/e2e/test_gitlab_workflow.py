"""The example GitLab pipeline, its own jobs run against the emulator and a fake GitLab API.

Each job's ``script`` (and ``after_script``) is taken from .gitlab-ci.yml and run as a
runner runs it (one bash, every line must succeed), in a directory laid out like the
user's repository, with the pipeline's and the job's ``variables`` expanded from the
project's CI/CD variables. scimctl is installed by the pipeline's own install step from
the built wheel, so this is also what a GitLab user installs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CLIENT_ID, CLIENT_SECRET, ROOT, Workspace, user
from unit.test_gitlab_workflow import lines

EXAMPLE = ROOT / "examples" / "gitlab-ci"

PIPELINE = yaml.safe_load((EXAMPLE / ".gitlab-ci.yml").read_text())

TOKEN = "glpat-test-token-not-for-logs"

VAR = re.compile(r"\$\{?(\w+)\}?")


class GitLabAPI(ThreadingHTTPServer):
    """Merge-request notes, the only part of the API the pipeline uses."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), NotesHandler)
        self.notes: list[dict[str, Any]] = []
        self.calls: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v4"


class NotesHandler(BaseHTTPRequestHandler):
    server: GitLabAPI
    PATH = re.compile(r"/api/v4/projects/77/merge_requests/5/notes(?:/(\d+))?(?:\?(.*))?$")

    def log_message(self, *args: Any) -> None:
        pass

    def answer(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one(self) -> None:
        self.server.calls.append(f"{self.command} {self.path}")
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
            return self.answer(401, {"message": "401 Unauthorized"})
        match = self.PATH.match(self.path)
        if not match:
            return self.answer(404, {"message": "404 Not found"})
        body: Any = (
            json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.command in ("POST", "PUT")
            else None
        )
        notes = self.server.notes
        if self.command == "GET":
            page = int(dict(p.split("=") for p in (match[2] or "").split("&") if p).get("page", 1))
            size = 2  # small pages, so the script must follow X-Next-Page
            chunk = notes[(page - 1) * size : page * size]
            more = {"X-Next-Page": str(page + 1)} if len(notes) > page * size else {}
            return self.answer(200, chunk, more)
        if self.command == "POST":
            note = {"id": 100 + len(notes), "body": body["body"]}
            notes.append(note)
            return self.answer(201, note)
        note = next(n for n in notes if n["id"] == int(match[1]))
        note["body"] = body["body"]
        return self.answer(200, note)

    do_GET = do_POST = do_PUT = handle_one


@pytest.fixture
def gitlab() -> Iterator[GitLabAPI]:
    api = GitLabAPI()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    yield api
    api.shutdown()
    api.server_close()


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """One virtual environment the jobs' install step (re)uses, as a runner cache would."""
    return tmp_path_factory.mktemp("gitlab") / "scimctl-venv"


class Pipeline:
    def __init__(self, root: Path, variables: dict[str, str], venv: Path) -> None:
        self.root = root
        self.variables = variables
        self.venv = venv

    def checkout(self, name: str, manifest: dict[str, Any]) -> Path:
        repo = self.root / name
        repo.mkdir()
        shutil.copy(EXAMPLE / ".gitlab-ci.yml", repo)
        shutil.copytree(EXAMPLE / "scimctl", repo / "scimctl")
        (repo / "scimctl.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        return repo

    def run(self, repo: Path, job: str, **predefined: str) -> tuple[int, str]:
        """Run one job's script, then its after_script (whatever the script did)."""
        spec = PIPELINE[job]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "SCIMCTL_"))}
        env = {**base, **self.variables, "CI_PROJECT_DIR": str(repo), **predefined}
        for key, value in {**PIPELINE.get("variables", {}), **spec.get("variables", {})}.items():
            env[key] = VAR.sub(lambda m: env.get(m.group(1), ""), str(value))
        # Project CI/CD variables take precedence over the file's, as in GitLab; the
        # test sets SCIMCTL_VENV there so the jobs share one venv, as a runner cache would.
        env.update(self.variables, SCIMCTL_VENV=str(self.venv))
        log = ""
        code = 0
        for part in ("script", "after_script"):
            if part not in spec:
                continue
            script = lines(spec[part])
            if (self.venv / "bin" / "scimctl").exists():
                # Installed by an earlier job of this module (the step is the same
                # install.sh every time); a runner cache would keep it the same way.
                script = [x for x in script if x != "bash scimctl/install.sh"]
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "\n".join(script)],
                cwd=repo, env=env, capture_output=True, text=True, timeout=300,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            log += proc.stdout + proc.stderr
            if part == "script":
                code = proc.returncode
        return code, log


@pytest.fixture
def pipeline(tmp_path, emulator, sqlite_url, gitlab, venv, built_wheel) -> Pipeline:
    wheel = tmp_path / built_wheel.name
    shutil.copy(built_wheel, wheel)
    variables = {
        "GENESYS_READONLY_CLIENT_ID": CLIENT_ID,
        "GENESYS_READONLY_CLIENT_SECRET": CLIENT_SECRET,
        "SCIMCTL_STATE_PLAN": sqlite_url,
        "GENESYS_WRITE_CLIENT_ID": CLIENT_ID,
        "GENESYS_WRITE_CLIENT_SECRET": CLIENT_SECRET,
        "SCIMCTL_STATE_APPLY": sqlite_url,
        "SCIMCTL_SOURCE": str(wheel),
        "SCIMCTL_WHEEL_SHA256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "SCIMCTL_GITLAB_TOKEN": TOKEN,
        "CI_API_V4_URL": gitlab.url,
        "CI_PROJECT_ID": "77",
        "CI_DEFAULT_BRANCH": "main",
    }
    return Pipeline(tmp_path, variables, venv)


MR = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "5"}

MAIN = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"}


def manifest(url: str, *keys: str) -> dict[str, Any]:
    return {
        "version": 1,
        "target": {"api_url": url},
        "groups": [{"name": "Support"}],
        "users": [user(k, f"{k.lower()}@example.com", groups=["Support"]) for k in keys],
    }


def names(ws: Workspace) -> set[str]:
    return {u["userName"] for u in ws.emulator.users()}


def test_merge_request_note_then_manual_apply_on_the_default_branch(
    pipeline, gitlab, emulator, tmp_path, sqlite_url
):
    ws = Workspace(tmp_path, emulator, sqlite_url)
    url = emulator.url
    # A merge request: the plan becomes one note; nothing is written.
    mr = pipeline.checkout("mr", manifest(url, "E1"))
    code, log = pipeline.run(mr, "plan:merge-request", **MR)
    assert code == 0, log
    assert (mr / "scimctl-plan" / "plan.json").exists()
    assert len(gitlab.notes) == 1 and "e1@example.com" in gitlab.notes[0]["body"]
    assert names(ws) == set()
    # Two more notes by others, then a new push: the same note is edited in place.
    gitlab.notes += [{"id": 1, "body": "LGTM"}, {"id": 2, "body": "ship it"}]
    mr2 = pipeline.checkout("mr2", manifest(url, "E1", "E2"))
    code, log = pipeline.run(mr2, "plan:merge-request", **MR)
    assert code == 0, log
    ours = [n for n in gitlab.notes if n["body"].startswith("<!-- scimctl-plan -->")]
    assert len(ours) == 1 and "e2@example.com" in ours[0]["body"]
    assert TOKEN not in log and CLIENT_SECRET not in log

    # Merged: the default branch plans, a person starts apply, exactly that is applied.
    main = pipeline.checkout("main", manifest(url, "E1", "E2"))
    code, log = pipeline.run(main, "plan:default-branch", **MAIN)
    assert code == 0 and (main / "scimctl-plan" / "plan.json").exists(), log
    code, log = pipeline.run(main, "apply", **MAIN)
    assert code == 0, log
    assert names(ws) == {"e1@example.com", "e2@example.com"}
    assert CLIENT_SECRET not in log

    # Nothing left: the plan job leaves no plan and apply does nothing.
    again = pipeline.checkout("again", manifest(url, "E1", "E2"))
    assert pipeline.run(again, "plan:default-branch", **MAIN)[0] == 0
    assert not (again / "scimctl-plan" / "plan.json").exists()
    code, log = pipeline.run(again, "apply", **MAIN)
    assert code == 0 and "nothing to apply" in log


def test_a_stale_plan_is_refused_and_a_failed_plan_still_writes_the_note(
    pipeline, gitlab, emulator, tmp_path, sqlite_url
):
    ws = Workspace(tmp_path, emulator, sqlite_url)
    url = emulator.url
    older = pipeline.checkout("older", manifest(url, "E3"))
    newer = pipeline.checkout("newer", manifest(url, "E3", "E4"))
    for repo in (older, newer):
        assert pipeline.run(repo, "plan:default-branch", **MAIN)[0] == 0
    assert pipeline.run(newer, "apply", **MAIN)[0] == 0
    before = names(ws)
    code, log = pipeline.run(older, "apply", **MAIN)
    assert code == 1 and "Nothing unreviewed was" in log, log
    assert names(ws) == before == {"e3@example.com", "e4@example.com"}

    broken = pipeline.checkout("broken", {**manifest(url, "E5"), "users": [{"userName": "x"}]})
    code, log = pipeline.run(broken, "plan:merge-request", **MR)
    assert code == 1, log
    assert len(gitlab.notes) == 1 and "scimctl plan failed" in gitlab.notes[0]["body"]
    assert not (broken / "scimctl-plan" / "plan.json").exists()
