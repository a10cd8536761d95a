"""The one computation of a plan from the live directory, for ``plan`` and for apply.

apply runs a saved plan only when the manifest, the directory and the state give
exactly the same plan now. That rule holds only if both compute it the same way, so
both call :func:`recompute`: ``plan`` to make the plan, apply's guard
(:func:`scimctl.apply.guard.check_reviewed`) to compare the saved file against it.
A step added here (a read, an option, a warning) is added to both at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from scimctl.config import Target
from scimctl.errors import PlanRefused
from scimctl.governance.evaluate import unknown_names
from scimctl.model import DEFAULT_REDACT, Desired, Snapshot, StateView
from scimctl.plan.diff import compute_plan
from scimctl.plan.model import Plan
from scimctl.plan.warnings import new_state_warnings
from scimctl.scim.client import ScimClient
from scimctl.scim.read import read_directory, with_deleted


@dataclass(frozen=True)
class Options:
    """What a plan is computed with besides the manifest, the directory and the state.

    ``plan`` takes ``redact`` from the manifest and ``targets`` from the command line;
    apply takes both from the saved file, so a partial or redacted plan compares equal.
    """

    target: Target
    manifest_digest: str
    max_deprovision: int | None = None
    redact: tuple[str, ...] = DEFAULT_REDACT
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recomputed:
    """The plan computed now, or what refused it, and the read it was computed from.

    A refusal is kept rather than raised because apply's guard still judges the saved
    file against the read (and names every rule it breaks) before refusing.
    """

    snapshot: Snapshot
    outcome: Plan | PlanRefused | ValueError

    def plan(self) -> Plan:
        """The plan, or the refusal raised, for a caller with nothing to add to it."""
        if isinstance(self.outcome, Plan):
            return self.outcome
        raise self.outcome


def target_document(target: Target) -> dict[str, str]:
    """How a plan records its target (where apply will send credentials)."""
    return {"provider": target.provider, "api_url": target.api_url, "login_url": target.login_url}


def recompute(
    client: ScimClient, desired: Desired, state: StateView, options: Options
) -> Recomputed:
    """Read the directory and compute the plan, with its warnings.

    Deleted Genesys accounts keep their userName reserved and SCIM cannot see them:
    they are read (Platform API) only when the plan creates or restores someone, and
    the plan is computed again if there are any (a create meeting one becomes a
    restore). An :class:`~scimctl.errors.InputError` (the manifest does not fit the
    directory) is raised, not kept: there is no plan to judge.
    """
    snapshot = read_directory(client, desired, state)
    outcome = _compute(desired, snapshot, state, options)
    if isinstance(outcome, Plan) and _may_restore(outcome):
        snapshot = with_deleted(client, snapshot)  # none from a generic SCIM service
        if snapshot.deleted:
            outcome = _compute(desired, snapshot, state, options)
    return Recomputed(snapshot, outcome)


def _may_restore(plan: Plan) -> bool:
    """Whether a plan could meet a deleted account: it creates, or restores."""
    return any(a.kind in ("create", "restore") for a in plan.actions)


def _compute(
    desired: Desired, snapshot: Snapshot, state: StateView, options: Options
) -> Plan | PlanRefused | ValueError:
    try:
        plan = compute_plan(
            desired,
            snapshot,
            state,
            workspace=options.target.workspace,
            target=target_document(options.target),
            manifest_digest=options.manifest_digest,
            max_deprovision=options.max_deprovision,
            redact=options.redact,
            targets=options.targets,
        )
    except PlanRefused as exc:
        return exc
    except ValueError as exc:  # a redact list no manifest could have written (a file's)
        return exc
    warnings = new_state_warnings(desired, snapshot, state) + unknown_names(desired, snapshot)
    if warnings:
        plan = plan.model_copy(update={"warnings": [*plan.warnings, *warnings]})
    return plan
