"""scimctl's commands as plain functions: what a Python caller of the library calls.

Each function takes resolved inputs (a manifest, a target, a client, a store),
does the work and returns a value; it prints nothing and never exits. ``scimctl.cli``
parses options, calls one of these, renders the result and sets the exit code
(Alembic's ``command.py`` is the model).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from scimctl.apply import Review, apply_plan
from scimctl.apply.recompute import Options, recompute
from scimctl.apply.results import ApplyReport, OpResult
from scimctl.config import Config, Target, resolve_target
from scimctl.drift import DriftReport, compute_drift
from scimctl.errors import ConfigError, InputError, NotFound, StateError, run_error
from scimctl.governance.evaluate import evaluate_plan
from scimctl.importer import ImportOptions, ImportResult, build_manifest
from scimctl.manifest import Manifest
from scimctl.model import StateView
from scimctl.model.grants import grant_docs
from scimctl.plan.cost import estimate
from scimctl.plan.model import Plan
from scimctl.records.hris import Delivery, Webhook, deliver, password_sender
from scimctl.scim.client import ScimClient
from scimctl.scim.pool import Budget
from scimctl.scim.read import with_all_grants
from scimctl.state.interfaces import (
    ApplyStore,
    AuditLog,
    ExecutorStore,
    ManagedRecords,
    OutboxReader,
)

if TYPE_CHECKING:
    from scimctl.governance.access import AccessReport


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


@dataclass(frozen=True)
class Released:
    """What ``state rm`` stopped managing, and the run that records who and when."""

    resource: str  # user | group
    key: str
    live_id: str
    user_name: str | None
    run_id: str


def state_rm(
    store: ApplyStore, workspace: str, address: str, *, lock_timeout: float = 0.0
) -> Released:
    """Stop managing one user or group without touching it (Terraform's ``state rm``).

    The account keeps everything it has in Genesys; only the state forgets it, under
    the workspace lock, with the serial moved (plans made before are stale) and a
    journal row saying who released it and when.
    """
    kind, sep, name = address.partition(":")
    if not sep or kind not in ("user", "group") or not name:
        raise ConfigError(f"{address!r}: use user:KEY (externalId or userName) or group:NAME")
    view = store.state(workspace)
    user_name: str | None = None
    if kind == "user":
        key = name if name in view.users else None
        if key is None:
            key = next(
                (k for k, m in view.users.items() if m.user_name.lower() == name.lower()), None
            )
        if key is None:
            raise StateError(f"user {name!r} is not managed in {workspace}")
        live_id, user_name = view.users[key].id, view.users[key].user_name
    else:
        if name not in view.groups:
            raise StateError(f"group {name!r} is not managed in {workspace}")
        key, live_id = name, view.groups[name]
    run_id = store.start_run(workspace, "state-rm")
    try:
        with store.lock(workspace, run_id, timeout=lock_timeout):
            store.begin_apply(workspace, view.lineage, view.serial)
            with store.tx() as conn:
                store.append_operation(
                    conn,
                    {
                        "workspace": workspace, "run_id": run_id, "phase": "result",
                        "action_id": f"release:{kind}:{key}", "action": "release",
                        "resource": kind, "resource_key": key, "resource_id": live_id,
                        "user_name": user_name, "method": None, "path": None, "status": None,
                        "outcome": "ok", "attempts": 0, "latency_ms": None,
                        "error": None,
                    },
                )  # fmt: skip
                if kind == "user":
                    store.drop_user(conn, workspace, key)
                else:
                    store.drop_group(conn, workspace, key)
    except BaseException as exc:
        store.finish_run(run_id, "failed", error=run_error(exc))
        raise
    store.finish_run(run_id, "succeeded", summary={"released": f"{kind}:{key}"})
    return Released(kind, key, live_id, user_name, run_id)


def drift(target: Target, client: ScimClient, store: ExecutorStore) -> DriftReport:
    """Changes made in Genesys since scimctl last applied, recorded as a ``drift`` run
    (its summary holds the count, for metrics and for whoever asks later)."""
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
    from pathlib import Path

    from scimctl.plan.files import check_writable, write_text

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
    url = manifest.hris.webhook_url if manifest.hris else None
    if not url:
        return None
    secret = config.webhook_secret
    if not secret:
        raise ConfigError(
            "hris.webhook_url is set but SCIMCTL_WEBHOOK_SECRET is not: events must be signed"
        )
    return Webhook(url, secret)


class DeliveringStore(ApplyStore, OutboxReader, Protocol):
    """What ``apply`` needs with a webhook: the apply store, and the outbox to deliver."""


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
    review = Review(manifest.desired, target, manifest.digest, max_deprovision, source=source)
    generate = manifest.desired.policy.password == "generate"
    client.search_wait = search_wait
    report = apply_plan(
        the_plan,
        client,
        store,
        review=review,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
        progress=progress,
        outbox=webhook is not None,
        on_password=password_sender(webhook) if webhook and generate else None,
        notify=notify,
    )
    delivery = deliver(store, webhook, workspace=the_plan.workspace) if webhook else None
    return Applied(report, delivery)


def hris_deliver(manifest: Manifest, store: OutboxReader, config: Config) -> Delivery:
    """Deliver the events still pending in the outbox to the manifest's webhook."""
    webhook = hris_webhook(manifest, config)
    if webhook is None:
        raise ConfigError("the manifest has no hris.webhook_url")
    return deliver(store, webhook, workspace=target_of(manifest).workspace)


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


def state_show(store: ManagedRecords, workspace: str, key: str) -> dict[str, Any]:
    """One managed user (by externalId or userName, any case) or group (by name)."""
    from scimctl.records.managed import managed_record

    record = managed_record(store, workspace, key)
    if record is None:
        raise NotFound(f"nothing named {key!r} is managed in {workspace}")
    return record


@dataclass(frozen=True)
class RunMetrics:
    """One run as ``metrics`` reports it: its row and the figures recorded for it."""

    run: dict[str, Any]
    metrics: dict[str, float]


def run_metrics(
    store: AuditLog, *, run_id: str | None = None, last: int = 1, workspace: str | None = None
) -> list[RunMetrics]:
    """The metrics of one run (id or unique prefix), or of the last ``last`` applies."""
    if run_id:
        run = store.run(run_id)
        if run is None:
            raise NotFound(f"no single run matches {run_id!r}")
        runs = [run]
    else:
        runs = store.find_runs(workspace=workspace, limit=last, kind="apply")
    return [RunMetrics(r, store.metrics(r["id"])) for r in runs]


def access_report(
    manifest: Manifest, workspace: str, audit: AuditLog, state: StateView, as_of: dt.date
) -> AccessReport:
    """Who held what at the end of ``as_of``, from the journal and state, offline.

    The manifest supplies the why (its lines and rows) and the rules and exceptions
    judged on that day; the history supplies since when and through which change.
    """
    from scimctl.governance.access import build
    from scimctl.records.history import history

    operations = history(audit, limit=2**62, workspace=workspace)
    return build(operations, state, workspace, as_of, manifest.desired)
