"""Planning: the pure diff engine, the plan document and its renderers."""

from __future__ import annotations

from scimctl.config import Target
from scimctl.manifest import Manifest
from scimctl.plan.diff import PlanRefused, compute_plan
from scimctl.plan.model import Plan, PlanFileError
from scimctl.problems import InputError
from scimctl.scim.client import ScimClient
from scimctl.state.store import Store

__all__ = ["Plan", "PlanFileError", "PlanRefused", "compute_plan", "make_plan"]


def make_plan(
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
        snapshot = client.snapshot()
        state = store.state(target.workspace)
        plan = compute_plan(
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
        )
    except BaseException as exc:
        store.finish_run(run_id, "error", error=str(exc) or exc.__class__.__name__)
        raise
    store.finish_run(
        run_id,
        "changes" if plan.has_changes else "no-changes",
        summary=plan.summary.model_dump(),
        plan_digest=plan.digest,
    )
    return plan
