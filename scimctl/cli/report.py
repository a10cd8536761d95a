"""Reports for reviewers and auditors: ``report access`` and ``report rules``.

Both read the state database and the manifest only (no network): what scimctl
applied, as the hash-chained journal recorded it, judged by the manifest's rules.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from scimctl.cli.base import (
    format_opt,
    main,
    manifest_option,
    manifest_target,
    read_manifest,
    state_option,
)
from scimctl.text import count

day_option = click.option(
    "--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="DATE",
    help="Answer for the end of this day (YYYY-MM-DD, UTC) from the history; default today.",
)  # fmt: skip


@main.group()
def report() -> None:
    """Reports for auditors: who has which access and why, and the state of every rule."""


def _access(manifests: tuple[str, ...], state: str | None, as_of: Any) -> Any:
    from scimctl.cli.base import open_store
    from scimctl.commands import report as commands

    day = as_of.date() if as_of is not None else dt.datetime.now(dt.UTC).date()
    manifest = read_manifest(manifests, day)
    workspace = manifest_target(manifest).workspace
    store = open_store(state)
    return commands.access_report(manifest, workspace, store.audit, store.state(workspace), day)


@report.command("access")
@manifest_option
@state_option
@click.option("--user", help="Only this account (externalId or userName).")
@click.option("--role", help="Only holders of this role.")
@click.option("--group", help="Only members of this group.")
@day_option
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="json",
    show_default=True, help="json for tools, csv for a spreadsheet, html for one file to hand on.",
)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False), help="Write the report here.")
def access(
    manifests: tuple[str, ...], state: str | None, user: str | None, role: str | None,
    group: str | None, as_of: Any, fmt: str, out: str | None,
) -> None:  # fmt: skip
    """Who holds which role and group, since when, through which change, and why."""
    from scimctl.governance.access import filtered
    from scimctl.governance.html import render_csv, render_html
    from scimctl.plan.files import check_writable

    if out:
        check_writable(out, "--out")
    result = filtered(_access(manifests, state, as_of), user, role, group)
    if fmt == "html":
        text = render_html(result)
    elif fmt == "csv":
        text = render_csv(result)
    else:
        text = json.dumps(result.doc(), indent=2, ensure_ascii=False) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(
            f"Wrote {out}: {count(result.accounts, 'account')}, "
            f"{count(len(result.rows), 'role or group', 'roles and groups')} held.",
            err=True,
        )
    else:
        click.echo(text, nl=False)


@report.command("rules")
@manifest_option
@state_option
@day_option
@format_opt("json")
def rules(manifests: tuple[str, ...], state: str | None, as_of: Any, fmt: str) -> None:
    """Every rule and exception with its state: holding, violated, excepted until ..."""
    from scimctl.cli.output import table

    result = _access(manifests, state, as_of)
    verdict = result.verdict
    if fmt == "json":
        doc = {"as_of": result.as_of.isoformat(), **(verdict.model_dump() if verdict else {})}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    if verdict is None:
        click.echo("The manifest has no policy.rules.")
        return
    until: dict[str, str] = {}
    for f in verdict.findings:
        if f.until:
            until[f.rule] = min(f.until, until.get(f.rule, f.until))
    rows = []
    for r in verdict.rules:
        state_text = r.state
        if r.state == "violated":
            state_text = f"violated ({r.violations})"
        elif r.state == "excepted":
            state_text = f"excepted until {until.get(r.id, '?')}"
        rows.append([r.id, state_text, r.text, r.description, r.where])
    table(["rule", "state", "rule text", "description", "where"], rows,
          title=f"Rules as of {verdict.as_of} ({count(result.accounts, 'account')})")  # fmt: skip
    if verdict.exceptions:
        table(
            ["exception", "user", "state", "until", "approved by", "reason", "where"],
            [[e.rule, e.user, e.state, f"{e.until} ({count(e.days_left, 'day')})", e.approved_by,
              e.reason, e.where] for e in verdict.exceptions],
            title="Exceptions (soonest end first)",
        )  # fmt: skip
    shown = [f for f in verdict.findings if f.status != "excepted"]
    if shown:
        table(["rule", "user", "what", "why (manifest)"],
              [[f.rule, f.user, f.detail, f.where] for f in shown], title="Violations")  # fmt: skip
