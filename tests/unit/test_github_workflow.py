"""The example GitHub workflow, its own shell steps run against the emulator.

Each step's ``run:`` block is taken from the YAML and run the way a runner runs it
(``bash --noprofile --norc -eo pipefail``), in a directory laid out like a
checkout of the repository, with the job's and step's ``env:`` (secrets filled
in). Artifacts are handed over by copying the uploaded directory, as
upload/download-artifact would.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = ROOT / "examples" / "github-actions" / ".github"

WORKFLOW = yaml.safe_load((EXAMPLE / "workflows" / "scimctl.yml").read_text())


def test_the_examples_carry_the_release_lock_and_one_install_script():
    lock = (ROOT / "constraints.txt").read_text()
    assert "--hash=sha256:" in lock
    assert (EXAMPLE / "scimctl" / "constraints.txt").read_text() == lock
    gitlab = ROOT / "examples" / "gitlab-ci" / "scimctl"
    assert (gitlab / "constraints.txt").read_text() == lock
    assert (gitlab / "install.sh").read_text() == (EXAMPLE / "scimctl" / "install.sh").read_text()


def test_only_the_apply_environment_holds_write_credentials():
    for name, job in WORKFLOW["jobs"].items():
        text = json.dumps(job)
        writes = "GENESYS_WRITE_" in text or "SCIMCTL_STATE_APPLY" in text
        assert writes == (job.get("environment") == "scimctl-apply"), name
        if writes:
            assert job["concurrency"] == {"group": "scimctl-apply", "cancel-in-progress": False}
    plan = WORKFLOW["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    installs = [s for j in WORKFLOW["jobs"].values() for s in j["steps"] if "install" in str(s)]
    assert installs and all("install.sh" in s["run"] for s in installs)
    for workflow in (EXAMPLE / "workflows").glob("*.yml"):  # the drift report's too
        text = workflow.read_text()
        assert "pip install scimctl" not in text and "install.sh" in text, workflow.name
