"""scimctl's commands as plain functions: what a Python caller of the library calls.

Each function takes resolved inputs (a manifest, a target, a client, a store),
does the work and returns a value; it prints nothing and never exits. ``cli.py``
parses options, calls one of these, renders the result and sets the exit code
(Alembic's ``command.py`` is the model).
"""

from __future__ import annotations

from scimctl.config import Target
from scimctl.manifest import Manifest
from scimctl.plan.diff import compute_plan
from scimctl.plan.model import Plan
from scimctl.scim.client import GenesysClient
from scimctl.scim.fresh import freshen
from scimctl.state.store import Store


def plan(
    manifest: Manifest,
    target: Target,
    client: GenesysClient,
    store: Store,
    *,
    max_deprovision: int | None = None,
) -> Plan:
    """Read the directory and state, compute the plan, and record the run."""
    run_id = store.start_run(target.workspace, "plan", manifest.digest)
    try:
        snapshot = client.snapshot()
        state = store.state(target.workspace)
        snapshot = freshen(client, snapshot, state)  # listings may lag behind writes
        result = compute_plan(
            manifest.desired,
            snapshot,
            state,
            workspace=target.workspace,
            target={
                "provider": target.provider,
                "api_url": target.api_url,
                "login_url": target.login_url,
            },
            manifest_digest=manifest.digest,
            max_deprovision=max_deprovision,
            redact=manifest.review.redact,
        )
    except BaseException as exc:
        store.finish_run(run_id, "error", error=str(exc) or exc.__class__.__name__)
        raise
    store.finish_run(
        run_id,
        "changes" if result.has_changes else "no-changes",
        summary=result.summary.model_dump(),
        plan_digest=result.digest,
    )
    return result
