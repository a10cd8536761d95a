"""The example GitLab pipeline, its own jobs run against the emulator and a fake GitLab API.

Each job's ``script`` (and ``after_script``) is taken from .gitlab-ci.yml and run as a
runner runs it (one bash, every line must succeed), in a directory laid out like the
user's repository, with the pipeline's and the job's ``variables`` expanded from the
project's CI/CD variables. scimctl is installed by the pipeline's own install step from
the built wheel, so this is also what a GitLab user installs.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from conftest import ROOT

EXAMPLE = ROOT / "examples" / "gitlab-ci"

PIPELINE = yaml.safe_load((EXAMPLE / ".gitlab-ci.yml").read_text())


def lines(script: list[Any]) -> list[str]:
    """A job's script with YAML anchors (nested lists) flattened, as GitLab does."""
    out: list[str] = []
    for item in script:
        out.extend(lines(item) if isinstance(item, list) else [str(item)])
    return out


def test_only_the_manual_protected_apply_job_holds_write_credentials():
    jobs = {k: v for k, v in PIPELINE.items() if isinstance(v, dict) and "script" in v}
    assert set(jobs) == {"plan:merge-request", "plan:default-branch", "apply"}
    for name, job in jobs.items():
        text = json.dumps(job)
        writes = "GENESYS_WRITE_" in text or "SCIMCTL_STATE_APPLY" in text
        assert writes == (name == "apply"), name
        assert lines(job["script"])[0] == "bash scimctl/install.sh", name
    apply = jobs["apply"]
    assert apply["environment"]["name"] == "scimctl-apply"
    assert apply["resource_group"] == "scimctl-apply"
    assert apply["needs"] == ["plan:default-branch"]
    assert apply["allow_failure"] is False
    (rule,) = apply["rules"]
    assert rule["when"] == "manual" and rule["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    (mr_rule,) = jobs["plan:merge-request"]["rules"]
    assert mr_rule["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
