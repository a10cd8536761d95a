"""apply as a library call: lock, staleness checks, execution, metrics, run record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scimctl.apply.executor import ApplyReport, Executor, OpResult
from scimctl.errors import LockError, StalePlan, StaleState
from scimctl.metrics import run_metrics
from scimctl.plan.model import Plan
from scimctl.scim.client import GenesysClient
from scimctl.state.store import Store


def _record_memberships(plan: Plan, report: ApplyReport, store: Store) -> None:
    """State's memberships become what the plan intended, where that went through."""
    not_done = [a for r in report.results if r.outcome != "ok" for a in r.actions]
    missing = {a.key for a in not_done if a.kind in ("create", "restore")}
    groups = {a.key for a in not_done if a.resource == "group"}
    done = {
        name: (g.id, [k for k in g.members if k not in missing])
        for name, g in plan.memberships.items()
        if name not in groups
    }
    store.sync_memberships(plan.workspace, done, set(plan.memberships))


def apply_plan(
    plan: Plan,
    client: GenesysClient,
    store: Store,
    *,
    workspace: str | None = None,
    manifest_digest: str | None = None,
    parallelism: int = 8,
    lock_timeout: float = 0.0,
    progress: Callable[[OpResult, int, int], None] | None = None,
    on_password: Callable[[dict[str, Any], str], bool] | None = None,
    outbox: bool = False,
    notify: Callable[[str], None] | None = None,
) -> ApplyReport:
    """Run ``plan`` exactly, or refuse it if it no longer matches what it was made from."""
    if workspace is not None and workspace != plan.workspace:
        raise StalePlan(
            f"the plan is for {plan.workspace}, but the manifest's target is {workspace}"
        )
    if manifest_digest is not None and manifest_digest != plan.manifest_digest:
        raise StalePlan("the manifest changed since the plan was made; run plan again")
    run_id = store.start_run(plan.workspace, "apply", plan.manifest_digest, plan.digest)
    try:
        with store.lock(plan.workspace, run_id, timeout=lock_timeout, notify=notify):
            store.begin_apply(plan.workspace, plan.state["lineage"], plan.state["serial"])
            executor = Executor(
                plan, client, store, run_id,
                parallelism=parallelism, progress=progress, on_password=on_password, outbox=outbox,
            )  # fmt: skip
            report = executor.run()
            _record_memberships(plan, report, store)
    except (LockError, StaleState) as exc:
        store.finish_run(run_id, "refused", error=str(exc))
        raise
    except BaseException as exc:
        store.finish_run(run_id, "failed", error=f"{exc.__class__.__name__}: {exc}")
        raise
    report.metrics = run_metrics(report, client.transport.stats)
    store.put_metrics(run_id, report.metrics)
    outcome = "succeeded" if report.ok else ("stopped" if report.stopped_early else "failed")
    summary = {
        "operations": len(report.results),
        "failed": sum(1 for r in report.results if r.outcome == "failed"),
        "skipped": sum(1 for r in report.results if r.outcome == "skipped"),
        "plan": plan.summary.counts,
    }
    store.finish_run(run_id, outcome, summary, error=report.stopped_early)
    return report
