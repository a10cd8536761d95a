"""Who and where a run or a lock comes from: the actor, the CI context, the process.

Shared by the SQL store and the in-memory one, so both record the same identity and
both decide the same way whether a holder is still alive.
"""

from __future__ import annotations

import getpass
import os
import socket


def actor() -> str:
    env = os.environ
    if env.get("GITHUB_ACTOR"):
        return env["GITHUB_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def hostname() -> str:
    return socket.gethostname()


def ci_context() -> dict[str, str]:
    """Where a run came from, when a CI system says so in the environment."""
    env = os.environ
    out: dict[str, str] = {}
    for key, name in (
        ("GITHUB_REPOSITORY", "repository"),
        ("GITHUB_SHA", "commit"),
        ("GITHUB_REF", "ref"),
        ("GITHUB_WORKFLOW", "workflow"),
        ("GITHUB_RUN_ID", "run_id"),
        ("GITHUB_EVENT_NAME", "event"),
        ("CI_COMMIT_SHA", "commit"),
        ("CI_PROJECT_PATH", "repository"),
        ("CI_PIPELINE_ID", "run_id"),
        ("CI_MERGE_REQUEST_IID", "pull_request"),
    ):
        if env.get(key):
            out.setdefault(name, env[key])
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/pull/"):
        out["pull_request"] = ref.split("/")[2]
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        out["run_url"] = (
            f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        )
    return out


def process_is_gone(host: str | None, pid: int | None) -> bool:
    """True only when the process ran on this host and no longer exists.

    A process on another host cannot be checked from here, so it counts as alive:
    its lock needs ``state unlock``.
    """
    if host != socket.gethostname() or pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
