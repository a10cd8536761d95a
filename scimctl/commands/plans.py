"""Planning and applying (``cli/plans.py``): validate, plan, show, apply, drift, import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from scimctl.config import Config, Target, resolve_target
from scimctl.errors import ConfigError, InputError, run_error
from scimctl.manifest import Manifest

# What plan and apply need (HTTP, SQL, the engine) is imported where it is used:
# `validate` and the manifest helpers the CLI calls first stay quick to start.
if TYPE_CHECKING:
    from collections.abc import Callable

    from scimctl.apply.results import ApplyReport, OpResult
    from scimctl.manifest.build import ImportOptions, ImportResult
    from scimctl.plan.drift import DriftReport
    from scimctl.plan.model import Plan
    from scimctl.records.hris import Delivery, Webhook
    from scimctl.scim.client import ScimClient
    from scimctl.scim.pool import Budget
    from scimctl.state.interfaces import ApplyStore, ExecutorStore, OutboxReader

    class DeliveringStore(ApplyStore, OutboxReader, Protocol):
        """What ``apply`` needs with a webhook: the apply store, and the outbox to deliver."""


def validate(files: list[str | Path], as_of: date | None = None) -> Manifest:
    """The manifest read and checked offline (schema, emails, duplicates, groups,
    templates) exactly as every other command reads it; raises what is wrong."""
    from scimctl.manifest import load_manifest

    return load_manifest(files, as_of=as_of)


def target_of(manifest: Manifest) -> Target:
    """The manifest's ``target:`` resolved to URLs and a workspace name."""
    t = manifest.target
    return resolve_target(t.provider, t.region, t.api_url, t.login_url, t.base_url, t.token_url)


def plan(
    manifest: Manifest,
    target: Target,
    client: ScimClient,
    store: ExecutorStore,
    *,
    max_deprovision: int | None = None,
    targets: tuple[str, ...] | list[str] = (),
    budget: Budget | None = None,
) -> Plan:
    """Read the directory and state, compute the plan, and record the run.

    ``targets`` (``user:KEY``, ``group:NAME``) makes a partial plan; a recomputation
    for apply must pass the saved plan's ``targets`` to compare equal. The plan states
    its cost at ``budget`` (one token, no ceiling when not given).
    """
    from scimctl.apply.recompute import Options, recompute
    from scimctl.governance.evaluate import evaluate_plan
    from scimctl.plan.cost import estimate
    from scimctl.scim.pool import Budget

    run_id = store.start_run(target.workspace, "plan", manifest.digest)
    requests_before = client.request_stats.requests
    try:
        unsupported = client.unsupported(manifest.desired)
        if unsupported:
            raise InputError(unsupported)
        state = store.state(target.workspace)
        options = Options(
            target,
            manifest.digest,
            max_deprovision,
            redact=tuple(manifest.review.redact),
            targets=tuple(targets),
        )
        now = recompute(client, manifest.desired, state, options)
        result, snapshot = now.plan(), now.snapshot
        verdict = evaluate_plan(result, manifest.desired, snapshot, state)
        if verdict is not None:
            result = result.model_copy(update={"governance": verdict})
        budget = budget or Budget()
        cost = estimate(
            result.actions,
            client.request_stats.requests - requests_before,
            per_minute=budget.per_minute,
            tokens=budget.tokens,
        )
        result = result.model_copy(update={"cost": cost})
    except BaseException as exc:
        store.finish_run(run_id, "error", error=run_error(exc))
        raise
    store.finish_run(
        run_id,
        "changes" if result.has_changes else "no-changes",
        summary=result.summary.model_dump(),
        plan_digest=result.digest,
    )
    return result


def show(path: str) -> Plan:
    """A saved plan as it was saved (sealed, checked), to render it again."""
    from scimctl.plan.model import Plan

    return Plan.load(path)


def drift(target: Target, client: ScimClient, store: ExecutorStore) -> DriftReport:
    """Changes made in Genesys since scimctl last applied, recorded as a ``drift`` run
    (its summary holds the count, for metrics and for whoever asks later)."""
    from scimctl.plan.drift import compute_drift

    run_id = store.start_run(target.workspace, "drift")
    try:
        state = store.state(target.workspace)
        report = compute_drift(target.workspace, state, client.snapshot())
    except BaseException as exc:
        store.finish_run(run_id, "error", error=run_error(exc))
        raise
    store.finish_run(
        run_id,
        "drift" if report.has_drift else "no-drift",
        summary={"drift": len(report.items), "managed_users": report.managed_users},
    )
    return report


def import_target(
    manifest: Manifest | None, api_url: str | None, region: str | None
) -> tuple[Target, dict[str, str]]:
    """Where ``import`` reads from, and the ``target:`` block the written manifest gets.

    ``--api-url``/``--region`` win (a first import has no manifest yet); otherwise
    the manifest's target is read and written back as it was given.
    """
    if api_url or region:
        target = resolve_target("genesys", region, api_url, None)
        written = {"provider": "genesys", **({"region": region} if region else {})}
        if api_url:
            written["api_url"] = api_url
        return target, written
    if manifest is None:
        raise ConfigError("import needs --api-url, --region or a manifest with a target")
    written = {k: v for k, v in manifest.target.model_dump().items() if v is not None}
    return target_of(manifest), written


def import_directory(
    target: Target,
    client: ScimClient,
    store: ApplyStore,
    options: ImportOptions,
    *,
    out: str,
    force: bool = False,
    manifest_target: dict[str, str],
    lock_timeout: float = 0.0,
) -> ImportResult:
    """Write a manifest reproducing the directory and record its accounts in state.

    The file is written first (to a temporary name, then renamed) and state second:
    if recording fails, the next plan adopts the accounts instead of deactivating
    them. Refuses to overwrite ``out`` unless ``force``.
    """
    from scimctl.manifest.build import build_manifest
    from scimctl.model.grants import grant_docs
    from scimctl.plan.files import check_writable, write_text
    from scimctl.scim.read import with_all_grants

    path = check_writable(out, "--out")
    if path.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    ws = target.workspace
    run_id = store.start_run(ws, "import")
    try:
        snapshot = with_all_grants(client, client.snapshot())
        result = build_manifest(snapshot, options, target=manifest_target, source=target.api_url)
        tmp = Path(f"{path}.tmp-{run_id[:8]}")
        write_text(tmp, result.text, "--out")
        try:
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
        with store.lock(ws, run_id, timeout=lock_timeout):
            view = store.state(ws)
            store.begin_apply(ws, view.lineage, view.serial)
            owned = {m.id: k for k, m in view.users.items()}
            keys = {}
            with store.tx() as conn:
                records = []
                for u in result.users:
                    if owned.get(u.live.id, u.key) != u.key:
                        continue  # managed under another key already: leave state as is
                    keys[u.live.id] = u.key
                    attrs = {k: v for k, v in u.live.attrs.items() if v not in (None, [])}
                    attrs["roles"] = u.live.attrs.get("roles") or []
                    held = snapshot.grants.get(u.live.id, ())
                    if any(g.role in u.scoped for g in held):
                        attrs["grants"] = grant_docs(g for g in held if g.role in u.scoped)
                    records.append((u.key, u.live.id, u.live.user_name, attrs, u.live.version))
                store.put_users(conn, ws, records)
                for u in result.users:
                    if keys.get(u.live.id) != u.key:
                        continue
                    store.append_operation(
                        conn,
                        {
                            "workspace": ws, "run_id": run_id, "phase": "result",
                            "action_id": f"import:user:{u.key}", "action": "import",
                            "resource": "user", "resource_key": u.key,
                            "resource_id": u.live.id, "user_name": u.live.user_name,
                            "method": None, "path": None, "status": None, "outcome": "ok",
                            "attempts": 0, "latency_ms": None, "error": None,
                        },
                    )  # fmt: skip
                members: dict[str, list[str]] = {}
                for u in result.users:
                    for g in u.groups:
                        if u.live.id in keys:
                            members.setdefault(g, []).append(u.key)
                for name, group_id in sorted(result.groups.items()):
                    store.put_memberships(conn, ws, name, group_id, members.get(name, []), [])
    except BaseException as exc:
        store.finish_run(run_id, "failed", error=run_error(exc))
        raise
    store.finish_run(
        run_id,
        "succeeded",
        summary={
            "imported": len(result.users),
            "groups": len(result.groups),
            "left_out": len(result.left_out),
        },
    )
    return result


def hris_webhook(manifest: Manifest, config: Config) -> Webhook | None:
    """The manifest's HRIS webhook with its signing secret, or None without one.

    Called before anything is approved or sent: events must be signed, so a webhook
    without ``SCIMCTL_WEBHOOK_SECRET`` is refused up front rather than after apply.
    The plan shows the URL masked; the manifest holds the real one.
    """
    from scimctl.records.hris import Webhook

    url = manifest.hris.webhook_url if manifest.hris else None
    if not url:
        return None
    secret = config.webhook_secret
    if not secret:
        raise ConfigError(
            "hris.webhook_url is set but SCIMCTL_WEBHOOK_SECRET is not: events must be signed"
        )
    return Webhook(url, secret)


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did: the run's report, and the webhook delivery after it."""

    report: ApplyReport
    delivery: Delivery | None


def apply(
    the_plan: Plan,
    manifest: Manifest,
    target: Target,
    client: ScimClient,
    store: DeliveringStore,
    *,
    source: str = "the plan",
    max_deprovision: int | None = None,
    parallelism: int = 8,
    lock_timeout: float = 0.0,
    search_wait: float = 2.0,
    webhook: Webhook | None = None,
    progress: Callable[[OpResult, int, int], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> Applied:
    """Run ``the_plan`` if recomputing it now gives the same actions, then deliver events.

    The plan is judged by ``manifest`` (its policy, its digest), never by what the
    file says. With a webhook, each event is queued in the same transaction as the
    change it announces and delivered after the run; what cannot be delivered stays
    pending for ``scimctl hris deliver``.
    """
    from scimctl.apply import Recheck, apply_plan
    from scimctl.records.hris import deliver, password_sender

    recheck = Recheck(manifest.desired, target, manifest.digest, max_deprovision, source=source)
    generate = manifest.desired.policy.password == "generate"
    client.search_wait = search_wait
    report = apply_plan(
        the_plan,
        client,
        store,
        recheck=recheck,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
        progress=progress,
        outbox=webhook is not None,
        on_password=password_sender(webhook) if webhook and generate else None,
        notify=notify,
    )
    delivery = deliver(store, webhook, workspace=the_plan.workspace) if webhook else None
    return Applied(report, delivery)
