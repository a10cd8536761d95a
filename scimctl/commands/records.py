"""What the state recorded (``cli/records.py``): history, metrics, HRIS delivery.

The queries, chain verification and redaction live in :mod:`scimctl.records`; these
are the commands over them, so every ``history`` and ``metrics`` variant reaches the
records the same way a Python caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimctl.config import Config
from scimctl.errors import ConfigError, NotFound
from scimctl.manifest import Manifest
from scimctl.records import history as audit_history
from scimctl.records.history import ChainReport
from scimctl.records.hris import Delivery, deliver
from scimctl.records.metrics import prometheus
from scimctl.state.interfaces import AuditLog, MetricsReader, OutboxReader


def operations(
    audit: AuditLog,
    *,
    limit: int,
    user: str | None = None,
    group: str | None = None,
    attribute: str | None = None,
    run: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    workspace: str | None = None,
    redact: bool = False,
) -> list[dict[str, Any]]:
    """The journal's operations, newest first, at most ``limit``; ``redact`` masks
    personal data (emails, names, phones)."""
    rows = audit_history.history(
        audit, user=user, group=group, attribute=attribute, run=run,
        since=since, until=until, limit=limit, workspace=workspace,
    )  # fmt: skip
    return [audit_history.redact(r) for r in rows] if redact else rows


def runs(
    audit: AuditLog,
    *,
    limit: int,
    kind: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """Every run and how it ended (refused, crashed and abandoned ones too), newest first."""
    return audit_history.runs(
        audit, kind=kind, outcome=outcome, since=since, until=until, limit=limit,
        workspace=workspace,
    )  # fmt: skip


def run_details(audit: AuditLog, run_id: str, *, redact: bool = False) -> dict[str, Any]:
    """One run (id or unique prefix) with every operation it sent."""
    run = audit_history.run_details(audit, run_id)
    if run is None:
        raise NotFound(f"no single run matches {run_id!r}")
    if redact:
        run["operations"] = [audit_history.redact(o) for o in run["operations"]]
    return run


def verify(audit: AuditLog, expect: str | None = None) -> ChainReport:
    """The journal's hash chain checked over runs and operations (and ``expect``, a
    head printed earlier, found in it)."""
    return audit_history.verify_chain(audit, expect=expect)


@dataclass(frozen=True)
class RunMetrics:
    """One run as ``metrics`` reports it: its row and the figures recorded for it."""

    run: dict[str, Any]
    metrics: dict[str, float]


def recorded_metrics(
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


def metrics_export(telemetry: MetricsReader, workspace: str | None = None) -> str:
    """Totals over all runs as Prometheus text (for a textfile collector or a pushgateway)."""
    return prometheus(telemetry, workspace)


def hris_deliver(manifest: Manifest, store: OutboxReader, config: Config) -> Delivery:
    """Deliver the events still pending in the outbox to the manifest's webhook."""
    from scimctl.commands.plans import hris_webhook, target_of  # apply's own rule

    webhook = hris_webhook(manifest, config)
    if webhook is None:
        raise ConfigError("the manifest has no hris.webhook_url")
    return deliver(store, webhook, workspace=target_of(manifest).workspace)
