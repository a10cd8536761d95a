"""apply as a library call: lock, staleness checks, execution, metrics, run record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimctl.apply.executor import Executor
from scimctl.apply.guard import check_reviewed
from scimctl.apply.recompute import Options, recompute, target_document
from scimctl.apply.results import ApplyReport, OpResult
from scimctl.config import Target
from scimctl.errors import (
    InputError,
    LockError,
    PlanRefused,
    StalePlan,
    StaleState,
    run_error,
)
from scimctl.model import Desired
from scimctl.plan.model import Plan
from scimctl.records.metrics import apply_metrics
from scimctl.scim.client import ScimClient
from scimctl.state.interfaces import ApplyStore, StateStore


def _record_memberships(
    plan: Plan, report: ApplyReport, store: StateStore, created: dict[str, str]
) -> None:
    """State's memberships become what the plan intended, where that went through.

    ``created`` holds the live ids of the groups this run created (the plan has none).
    """
    not_done = [a for r in report.results if r.outcome != "ok" for a in r.actions]
    missing = {a.key for a in not_done if a.kind in ("create", "restore")}
    groups = {a.key for a in not_done if a.resource == "group"}
    done = {
        name: (group_id, [k for k in g.members if k not in missing])
        for name, g in plan.memberships.items()
        if name not in groups and (group_id := g.id or created.get(name))
    }
    store.sync_memberships(plan.workspace, done, set(plan.memberships))


@dataclass(frozen=True)
class Recheck:
    """What apply recomputes the plan from, to check it: the manifest's desired state and
    target (not to be confused with the plan document's ``review`` section)."""

    desired: Desired
    target: Target
    manifest_digest: str
    max_deprovision: int | None = None
    source: str = "the plan"


def check_target(plan: Plan, target: Target) -> None:
    """Refuse a plan for another target before connecting anywhere.

    Credentials go to the target's login host, so the target comes from the
    manifest and a plan file naming any other host is refused, not followed.
    """
    if plan.workspace != target.workspace or plan.target.model_dump() != target_document(target):
        saved, wanted = plan.target.model_dump(), target_document(target)
        differ = [k for k in wanted if saved.get(k) != wanted[k]]
        if plan.workspace != target.workspace and "api_url" not in differ:
            differ.insert(0, "workspace")
        saved["workspace"], wanted["workspace"] = plan.workspace, target.workspace
        parts = "; ".join(f"{k} {saved.get(k)!r} in the plan, {wanted[k]!r} in the manifest"
                          for k in differ)  # fmt: skip
        raise StalePlan(f"the plan is for another target: {parts}")


def apply_plan(
    plan: Plan,
    client: ScimClient,
    store: ApplyStore,
    *,
    recheck: Recheck | None = None,
    parallelism: int = 8,
    lock_timeout: float = 0.0,
    progress: Callable[[OpResult, int, int], None] | None = None,
    on_password: Callable[[dict[str, Any], str], bool] | None = None,
    outbox: bool = False,
    notify: Callable[[str], None] | None = None,
) -> ApplyReport:
    """Run ``plan`` exactly, or refuse it if it no longer matches what it was made from.

    With ``recheck`` (what the CLI always passes), the plan is recomputed from the
    manifest, the directory and the state while the state lock is held, and runs
    only if the recomputation is identical and the manifest's policy allows every
    action. The lock keeps other applies from moving the state between that check
    and the writes; a change made in Genesys meanwhile is caught by If-Match.
    """
    if recheck is not None:
        check_target(plan, recheck.target)
    verification_requests = 0  # reads spent recomputing the plan, not operations
    run_id = store.start_run(plan.workspace, "apply", plan.manifest_digest, plan.digest)
    try:
        with store.lock(plan.workspace, run_id, timeout=lock_timeout, notify=notify):
            if recheck is not None:
                reads_before = client.request_stats.requests
                # What runs is the plan computed now, which equals the reviewed file
                # (or, for a redacted file, equals it through the same mask).
                # The file's redact list and targets, so a redacted or partial plan
                # compares equal; everything else from the manifest.
                state = store.state(plan.workspace)
                options = Options(
                    recheck.target, recheck.manifest_digest, recheck.max_deprovision,
                    redact=tuple(plan.review.redact), targets=tuple(plan.targets),
                )  # fmt: skip
                now = recompute(client, recheck.desired, state, options)
                plan = check_reviewed(
                    plan, now, recheck.desired, state,
                    max_deprovision=recheck.max_deprovision, source=recheck.source,
                )  # fmt: skip
                verification_requests = client.request_stats.requests - reads_before
            store.begin_apply(plan.workspace, plan.state.lineage, plan.state.serial)
            executor = Executor(
                plan, client, store, run_id,
                parallelism=parallelism, progress=progress, on_password=on_password, outbox=outbox,
            )  # fmt: skip
            report = executor.run()
            created = {name: g.id for name, g in executor.created_groups.items()}
            _record_memberships(plan, report, store, created)
    except (LockError, StaleState, PlanRefused, InputError) as exc:
        store.finish_run(run_id, "refused", error=str(exc))
        raise
    except BaseException as exc:
        store.finish_run(run_id, "failed", error=run_error(exc, with_type=True))
        raise
    report.metrics = apply_metrics(report, client.request_stats)
    store.put_metrics(run_id, report.metrics)
    outcome = "succeeded" if report.ok else ("stopped" if report.stopped_early else "failed")
    summary = {
        "operations": len(report.results),
        "failed": sum(1 for r in report.results if r.outcome == "failed"),
        "skipped": sum(1 for r in report.results if r.outcome == "skipped"),
        "not_deprovisioned": len(report.not_deprovisioned),
        "learned": report.learned,
        "not_stored": report.not_stored,
        "plan": plan.summary.counts,
        "verification_requests": verification_requests,
    }
    store.finish_run(run_id, outcome, summary, error=report.stopped_early)
    return report
