"""Planning and applying: validate, plan, show, apply, drift, import."""

from __future__ import annotations

import sys
from typing import Any

import click

from scimctl.cli.base import (
    Exit,
    FiniteFloat,
    as_of_option,
    checked_state_url,
    colour,
    count,
    credentials,
    format_option,
    main,
    manifest_option,
    manifest_target,
    new_state_option,
    open_client,
    open_store,
    plan_key,
    read_manifest,
    redact_option,
    run_budget,
    run_config,
    show_delivery,
    state_option,
    store_at,
    target_option,
    tokens_option,
)
from scimctl.config import Target
from scimctl.errors import Declined, ExitCode


@main.command()
@manifest_option
@as_of_option
def validate(manifests: tuple[str, ...], as_of: Any) -> None:
    """Check manifests offline: schema, emails, duplicates, groups, templates."""
    manifest = read_manifest(manifests, as_of)
    d = manifest.desired
    click.echo(
        f"Valid: {count(len(d.users), 'user')}, {count(len(d.groups), 'group')} in "
        f"{', '.join(manifest.files)}."
    )


@main.command()
@manifest_option
@state_option
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan as JSON here.")
@format_option
@redact_option
@click.option(
    "--redact-out", is_flag=True,
    help="Mask the saved plan file too (implies --redact); apply recomputes and compares.",
)  # fmt: skip
@click.option(
    "--detailed-exitcode", is_flag=True,
    help="Exit 0: no changes, 1: error, 2: changes or warnings to review.",
)  # fmt: skip
@click.option(
    "--max-deprovision", type=click.IntRange(0, 1_000_000), metavar="N",
    help="Allow up to N deactivations and deletions this once (default: policy.max_deprovision).",
)  # fmt: skip
@target_option
@as_of_option
@tokens_option
@new_state_option
def plan(
    manifests: tuple[str, ...], state: str | None, out: str | None, fmt: str, redact: bool,
    redact_out: bool, detailed_exitcode: bool, max_deprovision: int | None,
    targets: tuple[str, ...], as_of: Any, tokens: int | None, new_state: bool,
) -> None:  # fmt: skip
    """Compute the operations that would make the directory match the manifest."""
    from scimctl.plan.files import check_writable
    from scimctl.plan.redact import redact_plan
    from scimctl.plan.render import render

    if out is not None:
        check_writable(out, "--out")
    url = checked_state_url(state)  # before anything connects or writes
    key = plan_key()
    manifest = read_manifest(manifests, as_of)
    target = manifest_target(manifest)
    budget = run_budget(manifest, tokens)
    # In CI, `plan --detailed-exitcode` is a check: it reads a state, never starts one.
    check_only = detailed_exitcode and in_ci()
    with open_client(target, credentials(target), budget=budget) as client:
        result, _store = _plan_with_state(
            url, new_state, manifest, target, client, max_deprovision, targets, budget,
            check_only,
        )  # fmt: skip
    if redact_out:
        result = redact_plan(result)
    # A plan breaking policy.rules is shown (the reviewer must see why) but not saved.
    blocked = result.governance is not None and bool(result.governance.blocking)
    if out is not None and not blocked:
        result.save(out, key=key)
    # The same value that was saved, so `show` of the file prints these same bytes.
    click.echo(render(result, fmt, redact=redact, color=colour()), nl=False)
    if blocked:
        from scimctl.errors import PlanRefused
        from scimctl.governance.render import blocking_message

        unsaved = f"; {out} not saved" if out else ""
        raise PlanRefused(blocking_message(result.governance) + unsaved)
    if out is not None:
        click.echo(f"Saved the plan to {out}. Apply it with: scimctl apply {out}", err=True)
    if detailed_exitcode and (result.has_changes or result.warnings):
        raise Exit(ExitCode.CHANGES)


def in_ci() -> bool:
    return run_config().ci


def _plan_with_state(
    url: str, new_state: bool, manifest: Any, target: Target, client: Any,
    max_deprovision: int | None, targets: tuple[str, ...], budget: Any = None,
    check_only: bool = False,
) -> tuple[Any, Any]:  # fmt: skip
    """The plan and the store it was made against.

    A state that does not exist yet is said so, and created only by decision: when
    the plan would adopt accounts already in the directory (exactly what a lost or
    mistyped state looks like), ``--new-state`` must say that a new one is meant.
    """
    from scimctl.state.location import missing, prepare_directory, state_exists

    if state_exists(url):
        store = store_at(url, create=False)
        return _make_plan(manifest, target, client, store, max_deprovision, targets, budget), store
    if check_only and not new_state:
        raise missing(url)
    prepare_directory(url, create=False)  # a mistyped directory, before any reading
    if not new_state:
        from scimctl.state.memory import MemoryStore

        trial = _make_plan(
            manifest, target, client, MemoryStore(), max_deprovision, targets, budget
        )
        refuse_adoptions(url, trial.summary.counts.get("adopt", 0))
    announce_new_state(url)
    store = store_at(url, create=True)
    return _make_plan(manifest, target, client, store, max_deprovision, targets, budget), store


def announce_new_state(url: str) -> None:
    from scimctl.state.url import masked_url

    click.echo(
        click.style("New state: ", fg="yellow", bold=True)
        + f"there is no state database at {masked_url(url)} yet; this run starts one.",
        err=True,
    )


def refuse_adoptions(url: str, adopted: int) -> None:
    """Refuse a new state that would adopt accounts, as a lost state would."""
    if not adopted:
        return
    from scimctl.errors import StateError
    from scimctl.state.url import masked_url

    raise StateError(
        f"not starting a new state at {masked_url(url)}: the plan would adopt "
        f"{count(adopted, 'account')} already in the directory with the manifest's keys, as "
        "it would if the "
        "state were lost (and leavers would no longer be deactivated). Point --state at the "
        "existing state, or start a new one on purpose with --new-state "
        "(or `scimctl db upgrade --state URL` first)"
    )


def _make_plan(
    manifest: Any, target: Target, client: Any, store: Any, max_deprovision: int | None,
    targets: tuple[str, ...] = (), budget: Any = None,
) -> Any:  # fmt: skip
    from scimctl.cli.progress import Reading
    from scimctl.commands import plans as commands

    with Reading() as reading:
        client.on_page = reading.page
        return commands.plan(
            manifest, target, client, store, max_deprovision=max_deprovision, targets=targets,
            budget=budget,
        )  # fmt: skip


@main.command("import")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Manifest to write.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--api-url", help="Genesys API URL (or the emulator's); else the manifest's target.")
@click.option("--region", help="Genesys region such as mypurecloud.com.")
@manifest_option
@state_option
@click.option("--where", help="Only users for which this holds: 'department == \"Support\"'.")
@click.option("--has-external-id", is_flag=True, help="Only users that have an externalId.")
@click.option("--user-name", "user_names", multiple=True, help="Only these userNames (repeatable).")
@click.option(
    "--key-from", type=click.Choice(["userName"]),
    help="Include users without externalId, keyed by this (the first plan sets it).",
)  # fmt: skip
@tokens_option
def import_(
    out: str, force: bool, api_url: str | None, region: str | None,
    manifests: tuple[str, ...], state: str | None, where: str | None, has_external_id: bool,
    user_names: tuple[str, ...], key_from: str | None, tokens: int | None,
) -> None:  # fmt: skip
    """Write a manifest reproducing the live directory and record its accounts in state."""
    from scimctl.commands import plans as commands
    from scimctl.errors import ConfigError
    from scimctl.manifest.build import ImportOptions
    from scimctl.plan.files import check_writable

    if check_writable(out, "--out").exists() and not force:  # before any work
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    manifest = None if api_url or region else read_manifest(manifests)
    target, written = commands.import_target(manifest, api_url, region)
    options = ImportOptions(where, has_external_id, user_names, key_from)
    creds = credentials(target)  # before the state is created
    store = open_store(state, create=True)
    with open_client(target, creds, budget=run_budget(manifest, tokens)) as client:
        result = commands.import_directory(
            target, client, store, options, out=out, force=force, manifest_target=written
        )
    click.echo(
        f"Wrote {out}: {count(len(result.users), 'user')}, "
        f"{count(len(result.groups), 'group')}; "
        f"recorded them in state ({target.workspace}). Plan with: scimctl plan -m {out}"
    )
    if result.filtered:
        click.echo(f"Not chosen by the filters: {count(result.filtered, 'user')}.")
    if result.left_out:
        click.echo(f"Left out {count(len(result.left_out), 'user')}:", err=True)
        for name, reason in result.left_out:
            click.echo(f"  {name}: {reason}", err=True)


@main.command()
@manifest_option
@state_option
@format_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no drift, 1: error, 2: drift.")
@tokens_option
def drift(
    manifests: tuple[str, ...], state: str | None, fmt: str, detailed_exitcode: bool,
    tokens: int | None,
) -> None:  # fmt: skip
    """List changes made in Genesys, outside scimctl, since scimctl last applied."""
    from scimctl.commands import plans as commands
    from scimctl.plan.drift import render_drift

    manifest = read_manifest(manifests)
    target = manifest_target(manifest)
    store = open_store(state)  # drift only reads: a missing state is an error
    with open_client(target, credentials(target), budget=run_budget(manifest, tokens)) as client:
        report = commands.drift(target, client, store)
    click.echo(render_drift(report, fmt), nl=False)
    if detailed_exitcode and report.has_drift:
        raise Exit(ExitCode.CHANGES)


@main.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@format_option
@redact_option
def show(plan_file: str, fmt: str, redact: bool) -> None:
    """Render a saved plan: the same bytes `plan` printed for it."""
    from scimctl.commands import plans as commands
    from scimctl.plan.render import render

    click.echo(render(commands.show(plan_file), fmt, redact=redact, color=colour()), nl=False)


@main.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@manifest_option
@state_option
@click.option("--auto-approve", is_flag=True, help="Apply a fresh plan without asking.")
@click.option(
    "--parallelism", type=click.IntRange(1, 64),
    help="Concurrent writes (default 8, or 4 per token with more tokens, at most 64).",
)  # fmt: skip
@click.option(
    "--lock-timeout", default=0.0, show_default=True, type=FiniteFloat(0, 86_400),
    help="Seconds to wait for another apply's lock.",
)  # fmt: skip
@click.option(
    "--max-deprovision", type=click.IntRange(0, 1_000_000), metavar="N",
    help="Allow up to N deactivations and deletions this once (default: policy.max_deprovision).",
)  # fmt: skip
@click.option(
    "--search-wait", default=2.0, show_default=True, type=FiniteFloat(0, 3_600),
    help="Seconds to keep looking up a create whose outcome is unknown before sending "
    "it again (Genesys search lags behind writes).",
)  # fmt: skip
@target_option
@as_of_option
@tokens_option
@new_state_option
def apply(
    plan_file: str | None, manifests: tuple[str, ...], state: str | None, auto_approve: bool,
    parallelism: int | None, lock_timeout: float, max_deprovision: int | None,
    search_wait: float, targets: tuple[str, ...], as_of: Any, tokens: int | None,
    new_state: bool,
) -> None:  # fmt: skip
    """Run a saved plan, or plan now and run it after confirmation.

    A saved plan runs only if recomputing it now from the manifest (-m, default
    scimctl.yaml), the directory and the state gives exactly the same actions.
    """
    from scimctl.apply import check_target
    from scimctl.cli.progress import Progress
    from scimctl.commands import plans as commands
    from scimctl.plan import Plan
    from scimctl.plan.render import render_text

    if plan_file and targets:
        raise click.UsageError("--target is for planning; a saved plan carries its own targets")
    # Everything that can be checked offline is, before any connection or file.
    the_plan = Plan.load(plan_file, key=plan_key()) if plan_file else None
    url = checked_state_url(state)
    manifest = read_manifest(manifests, as_of)
    target = manifest_target(manifest)
    creds = credentials(target)  # once, before anything connects or writes
    if the_plan is not None:
        check_target(the_plan, target)
    budget = run_budget(manifest, tokens)
    parallelism = parallelism or budget.parallelism
    if the_plan is not None:
        store = _saved_plan_store(url, new_state, the_plan)
    else:
        with open_client(target, creds, budget=budget) as client:
            the_plan, store = _plan_with_state(
                url, new_state, manifest, target, client, max_deprovision, targets, budget
            )
        click.echo(render_text(the_plan, color=colour()), nl=False)
    if not the_plan.has_changes:
        click.echo("Nothing to apply: the plan has no changes.")
        return
    webhook = commands.hris_webhook(
        manifest, run_config()
    )  # refused before anyone is asked to approve
    if plan_file is None and not auto_approve:
        if not sys.stdin.isatty():
            raise Declined(
                "no terminal to ask for approval: save a plan and apply it, or pass --auto-approve"
            )
        if not click.confirm("Apply these changes?"):
            raise Declined("not applied.")
    with (
        open_client(target, creds, parallelism, budget) as client,
        Progress(requests=lambda: client.request_stats.requests) as progress,
    ):
        applied = commands.apply(
            the_plan, manifest, target, client, store,
            source=plan_file or "the plan", max_deprovision=max_deprovision,
            parallelism=parallelism, lock_timeout=lock_timeout, search_wait=search_wait,
            webhook=webhook, progress=progress.update,
            notify=lambda message: click.echo(f"Note: {message}", err=True),
        )  # fmt: skip
    _report(applied.report)
    if applied.delivery is not None:
        show_delivery(applied.delivery)
    # Leavers who still have access are a different emergency from a failed update,
    # and both differ from an apply that never started (1).
    if applied.report.not_deprovisioned:
        raise Exit(ExitCode.NOT_DEPROVISIONED)
    if not applied.report.ok:
        raise Exit(ExitCode.PARTLY_FAILED)


def _saved_plan_store(url: str, new_state: bool, the_plan: Any) -> Any:
    """The state a saved plan is applied to: one that is not there is an error, since
    `plan` would have started it; --new-state starts one anyway."""
    from scimctl.errors import StateError
    from scimctl.state.location import state_exists
    from scimctl.state.url import masked_url

    if state_exists(url):
        return store_at(url, create=False)
    if not new_state:
        made = the_plan.state
        raise StateError(
            f"no state database at {masked_url(url)}, but the plan was made against state "
            f"{made.lineage or '(new)'} serial {made.serial}: point --state at that state, "
            "or pass --new-state to start a new one"
        )
    announce_new_state(url)
    return store_at(url, create=True)


def _report(report: Any) -> None:
    ok = sum(1 for r in report.results if r.outcome == "ok")
    m = report.metrics
    left = report.not_deprovisioned
    if left:
        click.echo(
            click.style("NOT DEPROVISIONED: ", fg="red", bold=True)
            + f"{count(len(left), 'leaver still has', 'leavers still have')} access:",
            err=True,
        )
        for r in left:
            click.echo(f"  {r.node}: {r.error}", err=True)
    click.echo(
        f"Apply finished in {report.wall_seconds:.1f}s: {ok:,} of "
        f"{count(len(report.results), 'operation')} succeeded "
        f"({count(int(m.get('requests_total', 0)), 'request')}, "
        f"{count(int(m.get('retries_total', 0)), 'retry', 'retries')}, "
        f"{int(m.get('throttled_total', 0)):,} throttled). "
        f"Run {report.run_id}."
    )
    for r in report.failed:
        click.echo(click.style(f"  {r.outcome}: ", fg="red") + f"{r.node}: {r.error}", err=True)
    for line in report.not_stored:
        click.echo(click.style("  not stored: ", fg="yellow") + line, err=True)
    for line in report.learned:
        click.echo(f"Note: {line}", err=True)
    if report.stopped_early:
        click.echo(click.style("Stopped early: ", fg="red") + report.stopped_early, err=True)
