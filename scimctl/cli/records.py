"""What happened: history (operations, runs, one run, the chain's check), metrics, HRIS delivery."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from scimctl.cli.base import (
    Exit,
    Moment,
    count,
    error,
    format_opt,
    main,
    manifest_option,
    open_store,
    read_manifest,
    run_config,
    show_delivery,
    state_option,
)
from scimctl.errors import ChecksFailed, ExitCode


@main.group(invoke_without_command=True)
@click.option("--user", help="One account: externalId or any userName it ever had.")
@click.option("--group", help="Membership changes of this group.")
@click.option("--attribute", help="Only operations that changed this attribute (e.g. title).")
@click.option("--run", "run_id", help="Only this run (id or prefix).")
@click.option(
    "--since", type=Moment(), help="From this date (2026-11-01) or time (2026-11-01T09:00:00Z)."
)
@click.option("--until", type=Moment(), help="Before this date or time.")
@click.option("--workspace", help="Only this workspace.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000),
    help="Show at most this many, newest first.",
)  # fmt: skip
@click.option("--redact", is_flag=True, help="Mask personal data (emails, names, phones).")
@format_opt("json")
@state_option
@click.pass_context
def history(
    ctx: click.Context, user: str | None, group: str | None, attribute: str | None,
    run_id: str | None, since: datetime | None, until: datetime | None,
    workspace: str | None, limit: int, redact: bool, fmt: str, state: str | None,
) -> None:  # fmt: skip
    """Who changed which account, when, what it was before, and from which commit."""
    if ctx.invoked_subcommand:
        return
    from scimctl.commands import records as commands

    audit = open_store(state).audit

    def find(n: int) -> list[dict[str, Any]]:
        return commands.operations(
            audit, user=user, group=group, attribute=attribute, run=run_id,
            since=since, until=until, limit=n, workspace=workspace, redact=redact,
        )  # fmt: skip

    rows = find(limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        _say_more("operations", limit, len(find(COUNT_CAP + 1)))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        return
    if not rows:
        click.echo("No operations match." if (user or group or attribute or run_id or since
                   or until or workspace) else "No operations are recorded yet.")  # fmt: skip
        return
    _operations_table(rows, with_run=True)


COUNT_CAP = 10_000  # a cut list counts what it left out up to here


def _say_more(what: str, shown: int, total: int) -> None:
    """A cut list says so, how many more there are, and how to see them (on stderr,
    so piped output stays data)."""
    counted = f"{total:,}" if total <= COUNT_CAP else f"more than {COUNT_CAP:,}"
    click.echo(
        f"Showing the newest {shown:,} of {counted} {what}: see more with "
        f"--limit {min(total, COUNT_CAP)}, or narrow the list with --since, --until or "
        "--workspace.",
        err=True,
    )


def _operations_table(rows: list[dict[str, Any]], with_run: bool) -> None:
    """Piped, one line per operation with its run, actor and commit (for ``cut -f``).
    On a terminal, operations are grouped under a line naming their run, actor and
    commit whole, so that the table keeps its width for what each operation did."""
    from scimctl.cli.output import on_terminal, say, table

    def cells(r: dict[str, Any], run: bool) -> list[Any]:
        who = r["user_name"] or r["resource_key"]
        return [r["at"], *([r["run_id"], r["actor"], r["commit"]] if run else [])] + [
            r["action"], f"{r['resource']} {who}", describe_changes(r["changes"]), r["outcome"],
            r["status"], r["attempts"],
            f"{r['latency_ms']:.0f}" if r["latency_ms"] is not None else "", r["error"],
        ]  # fmt: skip

    from scimctl.records.history import describe_changes

    headers = ["action", "resource", "changes", "outcome", "status", "tries", "ms", "error"]
    drop = ("ms", "tries", "status")
    if not with_run:
        table(["time", *headers], [cells(r, False) for r in rows], keep=("time",), drop=drop)
        return
    if not on_terminal():
        table(["time", "run", "actor", "commit", *headers], [cells(r, True) for r in rows])
        return
    groups: list[list[dict[str, Any]]] = []
    for r in rows:
        if groups and groups[-1][0]["run_id"] == r["run_id"]:
            groups[-1].append(r)
        else:
            groups.append([r])
    for n, group in enumerate(groups):
        first = group[0]
        commit = f", commit {first['commit']}" if first["commit"] else ""
        say(("\n" if n else "") + f"Run {first['run_id']} by {first['actor']}{commit}:")
        table(["time", *headers], [cells(r, False) for r in group], keep=("time",), drop=drop)


@history.command("runs")
@click.option("--kind", type=click.Choice(["plan", "apply"]), help="Only plans or applies.")
@click.option("--outcome", help="Only runs that ended so (succeeded, failed, crashed, ...).")
@click.option(
    "--since", type=Moment(), help="From this date (2026-11-01) or time (2026-11-01T09:00:00Z)."
)
@click.option("--until", type=Moment(), help="Before this date or time.")
@click.option("--workspace", help="Only this workspace.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000),
    help="Show at most this many, newest first.",
)  # fmt: skip
@format_opt("json")
@state_option
def history_runs(
    kind: str | None, outcome: str | None, since: datetime | None, until: datetime | None,
    workspace: str | None, limit: int, fmt: str, state: str | None,
) -> None:  # fmt: skip
    """Every run and how it ended, including refused, crashed and abandoned ones."""
    from scimctl.commands import records as commands

    audit = open_store(state).audit

    def find(n: int) -> list[dict[str, Any]]:
        return commands.runs(
            audit, kind=kind, outcome=outcome, since=since, until=until, limit=n,
            workspace=workspace,
        )  # fmt: skip

    rows = find(limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        _say_more("runs", limit, len(find(COUNT_CAP + 1)))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        return
    if not rows:
        click.echo("No runs match." if (kind or outcome or since or until or workspace)
                   else "No runs are recorded yet.")  # fmt: skip
        return
    from scimctl.cli.output import on_terminal, table

    if not on_terminal():
        table(
            ["started", "run", "kind", "outcome", "actor", "commit", "operations", "error"],
            [[r["started_at"], r["id"], r["kind"], r["outcome"], r["actor"], r["commit"],
              r["operations"], r["error"]] for r in rows],
        )  # fmt: skip
        return
    # On a terminal the commit goes under its run id, in the same column: both stay whole
    # and the row keeps room for how the run ended.
    table(
        ["started", "run / commit", "kind", "outcome", "actor", "operations", "error"],
        [[r["started_at"], "\n".join(filter(None, [r["id"], r["commit"]])), r["kind"],
          r["outcome"], r["actor"], r["operations"], r["error"]] for r in rows],
        keep=("started", "run / commit"), drop=("operations", "actor"),
    )  # fmt: skip


@history.command("show")
@click.argument("run_id")
@click.option("--redact", is_flag=True, help="Mask personal data (emails, names, phones).")
@format_opt("json")
@state_option
def history_show(run_id: str, redact: bool, fmt: str, state: str | None) -> None:
    """One run: who, when, from where, every operation it sent, how each went."""
    from scimctl.commands import records as commands

    run = commands.run_details(open_store(state).audit, run_id, redact=redact)
    if fmt == "json":
        click.echo(json.dumps(run, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        return
    ci = run.get("ci") or {}
    click.echo(f"Run {run['id']} ({run['kind']}) on {run['workspace']}")
    click.echo(f"  by {run['actor']} on {run['host']}, {run['started_at']} -> {run['finished_at']}")
    click.echo(f"  outcome {run['outcome']}" + (f": {run['error']}" if run.get("error") else ""))
    if ci:
        click.echo("  " + ", ".join(f"{k} {v}" for k, v in sorted(ci.items())))
    click.echo(f"  manifest {run['manifest_digest']}, plan {run['plan_digest']}")
    version = run.get("scimctl_version") or "not recorded (a run from before migration 0004)"
    click.echo(f"  scimctl {version}")
    if run["operations"]:
        _operations_table(run["operations"], with_run=False)
        return
    if run["kind"] == "plan":
        why = "a plan run reads the directory and sends no changes"
    elif run["outcome"] in ("refused", "abandoned"):
        why = f"the run was {run['outcome']} before it sent anything"
    elif run["outcome"] == "running":
        why = "the run has not sent anything yet"
    else:
        why = "the run sent nothing"
    click.echo(f"No operations: {why}.")


@history.command("verify")
@click.option(
    "--expect", metavar="HASH",
    help="A head printed by an earlier verify and kept elsewhere (CI log, artifact).",
)  # fmt: skip
@state_option
def history_verify(expect: str | None, state: str | None) -> None:
    """Check the journal's hash chain over runs and operations; print its head."""
    from scimctl.commands import records as commands

    report = commands.verify(open_store(state).audit, expect=expect)
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    if not report.ok:
        for problem in report.problems:
            error(str(problem))
        raise ChecksFailed(
            f"the audit journal does not verify ({count(len(report.problems), 'problem')})"
        )
    kind = "HMAC-SHA256" if report.keyed else "SHA-256"
    legacy = f" and {count(report.legacy_rows, 'row')} from before the chain"
    click.echo(
        f"The chain is whole ({kind}): {count(report.entries, 'entry', 'entries')}"
        f"{legacy if report.legacy_rows else ''}."
    )
    if expect:
        click.echo("The expected head is in the chain.")
    click.echo(f"Head: {report.head_seq}:{report.head}")


@main.command()
@click.option("--run", "run_id", help="One run (id or unique prefix).")
@click.option(
    "--last", default=1, show_default=True, type=click.IntRange(1, 100_000), help="Last N applies."
)
@format_opt(
    "json", "prometheus",
    help="text for people (also: table), json for tools; prometheus: totals over all runs, "
    "for a textfile collector or a pushgateway.",
)  # fmt: skip
@click.option("--workspace", help="Only this workspace.")
@state_option
def metrics(
    run_id: str | None, last: int, fmt: str, workspace: str | None, state: str | None
) -> None:
    """Apply metrics: per run, or as Prometheus series (totals, latency, last runs)."""
    from scimctl.commands import records as commands

    store = open_store(state)
    if fmt == "prometheus":
        if run_id:
            raise click.UsageError(
                "--format prometheus exports totals over all runs; --run does not apply"
            )
        click.echo(commands.metrics_export(store.telemetry, workspace), nl=False)
        return
    from scimctl.cli.output import iso

    data = [
        (m.run, m.metrics)
        for m in commands.recorded_metrics(
            store.audit, run_id=run_id, last=last, workspace=workspace
        )
    ]
    if fmt == "json":
        doc = [
            {
                "run_id": r["id"], "workspace": r["workspace"], "kind": r["kind"],
                "outcome": r["outcome"], "started_at": iso(r["started_at"]),
                "finished_at": iso(r["finished_at"]) if r["finished_at"] else None,
                "error": r["error"], "scimctl_version": r.get("scimctl_version"), "metrics": m,
            }
            for r, m in data
        ]  # fmt: skip
        click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
        return
    if not data:
        click.echo("No apply runs are recorded yet.")
        return
    from scimctl.cli.output import table

    for r, m in data:
        version = r.get("scimctl_version") or "unknown"
        title = (
            f"Run {r['id']} ({r['kind']}, {r['outcome']}, {iso(r['started_at'])}, "
            f"scimctl {version})"
        )
        if not m:
            click.echo(f"{title}: no operations ran" + (f": {r['error']}" if r["error"] else "."))
            continue
        table(["metric", "value"], [[k, _number(v)] for k, v in sorted(m.items())], title=title)


def _number(value: float) -> str:
    """``1,234,567`` and ``57.8``, never ``1.23457e+06``: a metric as a person reads it."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


@main.group()
def hris() -> None:
    """Provisioning events for the HR system."""


@hris.command("deliver")
@manifest_option
@state_option
def hris_deliver(manifests: tuple[str, ...], state: str | None) -> None:
    """Deliver the events still pending in the outbox to hris.webhook_url."""
    from scimctl.commands import records as commands

    result = commands.hris_deliver(read_manifest(manifests), open_store(state), run_config())
    show_delivery(result)
    if result.pending:
        raise Exit(ExitCode.ERROR)
