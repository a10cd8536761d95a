"""scimctl's commands as plain functions: what a Python caller of the library calls.

Each function takes resolved inputs (a manifest, a target, a client, a store),
does the work and returns a value; it prints nothing and never exits. ``cli.py``
parses options, calls one of these, renders the result and sets the exit code
(Alembic's ``command.py`` is the model).
"""

from __future__ import annotations

from scimctl.apply.guard import target_document
from scimctl.config import Target
from scimctl.errors import InputError
from scimctl.manifest import Manifest
from scimctl.plan.diff import compute_plan
from scimctl.plan.model import Plan
from scimctl.plan.warnings import new_state_warnings
from scimctl.scim.client import ScimClient
from scimctl.scim.read import read_directory
from scimctl.state.store import Store


def plan(
    manifest: Manifest,
    target: Target,
    client: ScimClient,
    store: Store,
    *,
    max_deprovision: int | None = None,
) -> Plan:
    """Read the directory and state, compute the plan, and record the run."""
    run_id = store.start_run(target.workspace, "plan", manifest.digest)
    try:
        unsupported = client.unsupported(manifest.desired)
        if unsupported:
            raise InputError(unsupported)
        state = store.state(target.workspace)
        snapshot = read_directory(client, manifest.desired, state)
        result = compute_plan(
            manifest.desired,
            snapshot,
            state,
            workspace=target.workspace,
            target=target_document(target),
            manifest_digest=manifest.digest,
            max_deprovision=max_deprovision,
            redact=manifest.review.redact,
        )
        warnings = new_state_warnings(manifest.desired, snapshot, state)
        if warnings:
            result = result.model_copy(update={"warnings": [*result.warnings, *warnings]})
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
