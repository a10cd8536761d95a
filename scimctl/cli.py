"""The ``scimctl`` command: parse options, call the library, render, set the exit code.

Nothing here decides anything a Python caller of the library could not decide the
same way; errors that users can fix are printed as one clear message, never as a
traceback.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any

import click

from scimctl import __version__
from scimctl.config import Target, load_credentials, state_url
from scimctl.errors import ChecksFailed, Declined, InputError, ScimctlError

DEFAULT_MANIFEST = "scimctl.yaml"


class Exit(Exception):
    """Leave with this exit code, having said what there was to say."""

    def __init__(self, code: int) -> None:
        self.code = code


class FullHelpGroup(click.Group):
    """Lists each command with its whole one-line description, never cut with "...".

    Subgroups made with ``@group.group()`` are of the same class, so they list
    theirs whole too.
    """

    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class Boundary(FullHelpGroup):
    """The one place where errors become messages and exit codes.

    A :class:`ScimctlError` is one line (an :class:`InputError` one line per problem)
    and exit 1; with ``--debug`` its cause chain follows. Anything else is a bug and
    keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exit as exc:
            ctx.exit(exc.code)
        except InputError as exc:
            count = len(exc.problems)
            _error(f"{count} problem{'s' if count != 1 else ''} found:")
            for p in exc.problems:
                click.echo(f"  {p}", err=True)
            _debug_cause(exc)
            ctx.exit(exc.exit_code)
        except ScimctlError as exc:
            _error(str(exc))
            _debug_cause(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            _error(str(translated))
            _debug_cause(exc)
            ctx.exit(translated.exit_code)


def _translate(exc: Exception) -> ScimctlError | None:
    """Library errors that escaped translation where they arose, in operator words."""
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None and isinstance(exc, sa.SQLAlchemyError):
        from scimctl.state.url import describe_db_error

        return describe_db_error(exc)
    return None


def _debug_cause(exc: BaseException) -> None:
    if not _debugging():
        return
    import traceback

    click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)


def _debugging() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return bool(root is not None and (root.params or {}).get("debug"))


def _error(message: str) -> None:
    click.echo(click.style("Error: ", fg="red", bold=True) + message, err=True)


class FiniteFloat(click.ParamType):  # type: ignore[type-arg]
    """A float that is a real number of seconds: no NaN, no infinity, within a range."""

    name = "seconds"

    def __init__(self, low: float = 0.0, high: float = 86_400.0, name: str = "seconds") -> None:
        self.low, self.high, self.name = low, high, name

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(f"{value!r} is not between {self.low:g} and {self.high:g}", param, ctx)
        return number


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A date (2026-11-01) or an ISO time (2026-11-01T09:00:00Z); naive means UTC."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        from scimctl.history import parse_time

        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError:
            self.fail(
                f"{value!r}: use a date such as 2026-11-01 or a time such as 2026-11-01T09:00:00Z",
                param,
                ctx,
            )


class PerMinute(click.ParamType):  # type: ignore[type-arg]
    """A rate such as ``300/min`` (or ``300``): requests per minute, at least 1."""

    name = "N/min"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip().lower().removesuffix("/min")
        if not text.isdigit() or int(text) < 1:
            self.fail(f"{value!r}: use requests per minute, such as 300/min", param, ctx)
        return int(text)


manifest_option = click.option(
    "-m",
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(dir_okay=False),
    help=f"Manifest file (repeatable). Default: {DEFAULT_MANIFEST}.",
)
as_of_option = click.option(
    "--as-of", envvar="SCIMCTL_AS_OF", type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Plan for this day (YYYY-MM-DD, SCIMCTL_AS_OF): users whose provision_from is "
    "later are not desired yet. Apply must be given the same day as its plan.",
)  # fmt: skip
state_option = click.option(
    "--state", "state", envvar="SCIMCTL_STATE", help="State database URL (SCIMCTL_STATE)."
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
    show_default=True,
)  # fmt: skip
target_option = click.option(
    "--target", "targets", multiple=True, metavar="user:KEY|group:NAME",
    help="Plan only this user or group and what it needs (repeatable); the plan is partial.",
)  # fmt: skip
redact_option = click.option(
    "--redact", is_flag=True,
    help="Mask contact data (the manifest's review.redact; default phoneNumbers, workEmail).",
)  # fmt: skip


@click.group(cls=Boundary, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scimctl")
@click.option(
    "--debug", is_flag=True, envvar="SCIMCTL_DEBUG",
    help="Show the cause of errors and log requests (SCIMCTL_DEBUG=1).",
)  # fmt: skip
@click.option("--no-color", is_flag=True, help="No colours (also: NO_COLOR set to anything).")
@click.option(
    "--retry-deadline", default=60.0, show_default=True, type=FiniteFloat(1, 3_600),
    envvar="SCIMCTL_RETRY_DEADLINE",
    help="Seconds each request keeps retrying 5xx, throttling and dropped connections "
    "(SCIMCTL_RETRY_DEADLINE).",
)  # fmt: skip
@click.pass_context
def main(ctx: click.Context, debug: bool, no_color: bool, retry_deadline: float) -> None:
    """Plan and apply Genesys Cloud users from a manifest, over SCIM 2.0."""
    from scimctl.output import colour_enabled, disable_colour

    if debug:
        from scimctl.log import enable_debug_logging

        enable_debug_logging()
    if no_color:
        disable_colour()
    if not colour_enabled():
        ctx.color = False


def _manifest(manifests: tuple[str, ...], as_of: Any = None) -> Any:
    from scimctl.manifest import load_manifest

    day = as_of.date() if hasattr(as_of, "date") else as_of
    return load_manifest(list(manifests) or [DEFAULT_MANIFEST], as_of=day)


def _target(manifest: Any) -> Target:
    from scimctl.commands import target_of

    return target_of(manifest)


def _store(url: str | None) -> Any:
    from scimctl.state import Store

    return Store(state_url(url))


def _plan_key() -> str | None:
    """SCIMCTL_PLAN_KEY (environment or .env); never printed, saved or stored."""
    from scimctl.config import environment
    from scimctl.plan.integrity import plan_key

    return plan_key(environment())


def _client(target: Target, parallelism: int = 8) -> Any:
    from scimctl.scim.client import connect
    from scimctl.scim.transport import RetryPolicy

    credentials = load_credentials(provider=target.provider)
    deadline = click.get_current_context().find_root().params["retry_deadline"]
    return connect(
        target, credentials, parallelism=parallelism, retry=RetryPolicy(deadline=deadline)
    )


@main.command()
@manifest_option
@as_of_option
def validate(manifests: tuple[str, ...], as_of: Any) -> None:
    """Check manifests offline: schema, emails, duplicates, groups, templates."""
    manifest = _manifest(manifests, as_of)
    d = manifest.desired
    click.echo(
        f"Valid: {len(d.users)} users, {len(d.groups)} groups in {', '.join(manifest.files)}."
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
@click.option("--max-deprovision", type=click.IntRange(min=0), help="Allow this many deprovisions.")
@target_option
@as_of_option
def plan(
    manifests: tuple[str, ...], state: str | None, out: str | None, fmt: str, redact: bool,
    redact_out: bool, detailed_exitcode: bool, max_deprovision: int | None,
    targets: tuple[str, ...], as_of: Any,
) -> None:  # fmt: skip
    """Compute the operations that would make the directory match the manifest."""
    from scimctl.files import check_writable
    from scimctl.plan.redact import redact_plan
    from scimctl.plan.render import render

    if out:
        check_writable(out, "--out")
    url = state_url(state, ci_needs_explicit=True)  # before anything connects or writes
    key = _plan_key()
    manifest = _manifest(manifests, as_of)
    target = _target(manifest)
    with _client(target) as client:
        store = _store(url)
        result = _make_plan(manifest, target, client, store, max_deprovision, targets)
    if redact_out:
        result = redact_plan(result)
    if out:
        result.save(out, key=key)
    # The same value that was saved, so `show` of the file prints these same bytes.
    click.echo(render(result, fmt, redact=redact, color=_colour()), nl=False)
    if out:
        click.echo(f"Saved the plan to {out}. Apply it with: scimctl apply {out}", err=True)
    if detailed_exitcode and (result.has_changes or result.warnings):
        raise Exit(2)


def _make_plan(
    manifest: Any, target: Target, client: Any, store: Any, max_deprovision: int | None,
    targets: tuple[str, ...] = (),
) -> Any:  # fmt: skip
    from scimctl import commands
    from scimctl.progress import Reading

    with Reading() as reading:
        client.on_page = reading.page
        return commands.plan(
            manifest, target, client, store, max_deprovision=max_deprovision, targets=targets
        )


def _colour() -> bool:
    from scimctl.output import colour_enabled

    return sys.stdout.isatty() and colour_enabled()


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
def import_(
    out: str, force: bool, api_url: str | None, region: str | None,
    manifests: tuple[str, ...], state: str | None, where: str | None, has_external_id: bool,
    user_names: tuple[str, ...], key_from: str | None,
) -> None:  # fmt: skip
    """Write a manifest reproducing the live directory and record its accounts in state."""
    from scimctl import commands
    from scimctl.importer import ImportOptions

    manifest = None if api_url or region else _manifest(manifests)
    target, written = commands.import_target(manifest, api_url, region)
    options = ImportOptions(where, has_external_id, user_names, key_from)
    store = _store(state)
    with _client(target) as client:
        result = commands.import_directory(
            target, client, store, options, out=out, force=force, manifest_target=written
        )
    click.echo(
        f"Wrote {out}: {len(result.users)} user(s), {len(result.groups)} group(s); "
        f"recorded them in state ({target.workspace}). Plan with: scimctl plan -m {out}"
    )
    if result.filtered:
        click.echo(f"Not chosen by the filters: {result.filtered} users.")
    if result.left_out:
        click.echo(f"Left out {len(result.left_out)} user(s):", err=True)
        for name, reason in result.left_out:
            click.echo(f"  {name}: {reason}", err=True)


@main.command()
@manifest_option
@state_option
@format_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no drift, 1: error, 2: drift.")
def drift(manifests: tuple[str, ...], state: str | None, fmt: str, detailed_exitcode: bool) -> None:
    """List changes made in Genesys, outside scimctl, since scimctl last applied."""
    from scimctl import commands
    from scimctl.drift import render_drift

    manifest = _manifest(manifests)
    target = _target(manifest)
    store = _store(state)
    with _client(target) as client:
        report = commands.drift(target, client, store)
    click.echo(render_drift(report, fmt), nl=False)
    if detailed_exitcode and report.has_drift:
        raise Exit(2)


@main.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@format_option
@redact_option
def show(plan_file: str, fmt: str, redact: bool) -> None:
    """Render a saved plan: the same bytes `plan` printed for it."""
    from scimctl.plan import Plan
    from scimctl.plan.render import render

    click.echo(render(Plan.load(plan_file), fmt, redact=redact, color=_colour()), nl=False)


@main.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@manifest_option
@state_option
@click.option("--auto-approve", is_flag=True, help="Apply a fresh plan without asking.")
@click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--lock-timeout", default=0.0, show_default=True, type=FiniteFloat(0, 86_400),
    help="Seconds to wait for another apply's lock.",
)  # fmt: skip
@click.option("--max-deprovision", type=click.IntRange(min=0))
@click.option(
    "--search-wait", default=2.0, show_default=True, type=FiniteFloat(0, 3_600),
    help="Seconds to keep looking up a create whose outcome is unknown before sending "
    "it again (Genesys search lags behind writes).",
)  # fmt: skip
@target_option
@as_of_option
def apply(
    plan_file: str | None, manifests: tuple[str, ...], state: str | None, auto_approve: bool,
    parallelism: int, lock_timeout: float, max_deprovision: int | None, search_wait: float,
    targets: tuple[str, ...], as_of: Any,
) -> None:  # fmt: skip
    """Run a saved plan, or plan now and run it after confirmation.

    A saved plan runs only if recomputing it now from the manifest (-m, default
    scimctl.yaml), the directory and the state gives exactly the same actions.
    """
    from scimctl import commands
    from scimctl.apply import check_target
    from scimctl.plan import Plan
    from scimctl.plan.render import render_text
    from scimctl.progress import Progress

    if plan_file and targets:
        raise click.UsageError("--target is for planning; a saved plan carries its own targets")
    # Everything that can be checked offline is, before any connection or file.
    the_plan = Plan.load(plan_file, key=_plan_key()) if plan_file else None
    load_credentials()
    url = state_url(state, ci_needs_explicit=True)
    manifest = _manifest(manifests, as_of)
    target = _target(manifest)
    if the_plan is not None:
        check_target(the_plan, target)
    store = _store(url)
    if the_plan is None:
        with _client(target) as client:
            the_plan = _make_plan(manifest, target, client, store, max_deprovision, targets)
        click.echo(render_text(the_plan, color=_colour()), nl=False)
    if not the_plan.has_changes:
        click.echo("Nothing to apply: the plan has no changes.")
        return
    webhook = commands.hris_webhook(manifest)  # refused before anyone is asked to approve
    if plan_file is None and not auto_approve:
        if not sys.stdin.isatty():
            raise Declined(
                "no terminal to ask for approval: save a plan and apply it, or pass --auto-approve"
            )
        if not click.confirm("Apply these changes?"):
            raise Declined("not applied.")
    with _client(target, parallelism) as client, Progress() as progress:
        applied = commands.apply(
            the_plan, manifest, target, client, store,
            source=plan_file or "the plan", max_deprovision=max_deprovision,
            parallelism=parallelism, lock_timeout=lock_timeout, search_wait=search_wait,
            webhook=webhook, progress=progress.update,
            notify=lambda message: click.echo(f"Note: {message}", err=True),
        )  # fmt: skip
    _report(applied.report)
    if applied.delivery is not None:
        _delivery(applied.delivery)
    if not applied.report.ok:
        raise Exit(1)


def _delivery(result: Any) -> None:
    message = f"HRIS webhook: {result.delivered} events delivered, {result.pending} pending."
    if result.pending:
        message += f" Last error: {result.error}. Retry with `scimctl hris deliver`."
    click.echo(message, err=bool(result.pending))


def _report(report: Any) -> None:
    ok = sum(1 for r in report.results if r.outcome == "ok")
    m = report.metrics
    click.echo(
        f"Apply finished in {report.wall_seconds:.1f}s: {ok} of {len(report.results)} operations "
        f"succeeded ({int(m.get('requests_total', 0))} requests, "
        f"{int(m.get('retries_total', 0))} retries, {int(m.get('throttled_total', 0))} throttled). "
        f"Run {report.run_id}."
    )
    for r in report.failed:
        click.echo(click.style(f"  {r.outcome}: ", fg="red") + f"{r.node}: {r.error}", err=True)
    if report.stopped_early:
        click.echo(click.style("Stopped early: ", fg="red") + report.stopped_early, err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8999, show_default=True, type=click.IntRange(1, 65_535))
@click.option("--seed", type=click.Path(exists=True, dir_okay=False), help="YAML/JSON seed file.")
@click.option("--client-id", default="scimctl-emulator", show_default=True)
@click.option("--client-secret", default="emulator-secret", show_default=True)
@click.option(
    "--token-ttl",
    default=86_400,
    show_default=True,
    type=click.IntRange(1, 172_800),
    help="Token lifetime (s).",
)
@click.option(
    "--rate-limit",
    default=None,
    type=PerMinute(),
    help="Requests per token per minute, e.g. 300/min.",
)
@click.option(
    "--rate-window",
    default=60.0,
    type=FiniteFloat(0.01, 3_600),
    help="Rate-limit window (s); tests shorten it.",
)
@click.option(
    "--latency",
    default=0.0,
    type=FiniteFloat(0, 60_000, "ms"),
    help="Added latency per request (ms).",
)
@click.option(
    "--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of 5xx answers."
)
@click.option(
    "--reset-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of dropped connections."
)
@click.option("--random-seed", default=None, type=int, help="Make injected faults reproducible.")
@click.option(
    "--patch-204", is_flag=True, help="Answer a successful PATCH with 204 and no body (RFC 7644)."
)
@click.option(
    "--page-cap", default=None, type=click.IntRange(1), help="Return at most N items per page."
)
@click.option(
    "--version-conflict",
    default="400",
    show_default=True,
    type=click.Choice(["400", "412"]),
    help="Stale If-Match: 400 invalidVers (Genesys) or 412 Precondition Failed (RFC 7644).",
)
@click.option(
    "--search-lag", default=0.0, type=FiniteFloat(0, 3_600),
    help="Seconds before listings and filters show a write (GET by id is immediate).",
)  # fmt: skip
@click.option(
    "--default-role", default="Employee", show_default=True,
    help="Role given to a user created without roles.",
)  # fmt: skip
@click.option("--no-default-role", is_flag=True, help="Give new users no role by default.")
@click.option(
    "--default-role-mode", type=click.Choice(["empty", "always"]), default="empty",
    show_default=True,
    help="empty: only a create without roles gets it, a roles write may remove it; "
    "always: every create gets it and no roles write removes it.",
)  # fmt: skip
@click.option(
    "--max-body", default=512_000, show_default=True, type=click.IntRange(0),
    help="Largest request body in bytes (413 above it); 0 for no limit.",
)  # fmt: skip
def emulator(
    host: str, port: int, seed: str | None, client_id: str, client_secret: str, token_ttl: int,
    rate_limit: int | None, rate_window: float, latency: float, error_rate: float,
    reset_rate: float,
    random_seed: int | None, patch_204: bool, page_cap: int | None, version_conflict: str,
    search_lag: float, default_role: str, no_default_role: bool,
    default_role_mode: str, max_body: int,
) -> None:  # fmt: skip
    """Serve a local Genesys Cloud SCIM API for tests and demos."""
    from scimctl.emulator.app import EmulatorConfig
    from scimctl.emulator.server import build_emulator, serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise click.BadParameter(
            "the emulator serves loopback only (127.0.0.1, localhost or ::1)", param_hint="--host"
        )
    config = EmulatorConfig(
        client_id=client_id, client_secret=client_secret, token_ttl=token_ttl,
        rate_limit=rate_limit,
        rate_window=rate_window,
        latency_ms=latency, error_rate=error_rate, reset_rate=reset_rate, random_seed=random_seed,
        patch_204=patch_204, page_cap=page_cap, version_conflict=int(version_conflict),
        search_lag=search_lag, default_role=None if no_default_role else default_role,
        default_role_mode=default_role_mode, max_body_bytes=max_body or None,
    )  # fmt: skip
    emu = build_emulator(seed, config)
    d = emu.directory

    def announce() -> None:
        click.echo(
            f"Genesys Cloud emulator on http://{host}:{port} "
            f"({len(d.users)} users, {len(d.groups)} groups, {len(d.roles)} roles)",
            err=True,
        )

    serve(emu, host, port, announce)


@main.command()
@manifest_option
@click.option(
    "--write", is_flag=True,
    help="Also create, patch and delete one throw-away user to probe PATCH and conflicts.",
)  # fmt: skip
def doctor(manifests: tuple[str, ...], write: bool) -> None:
    """Probe the manifest's target before a first apply: reachability, auth,
    capabilities, paging, inactive users, versions, roles (read-only by default)."""
    from scimctl.scim.doctor import FAIL, run_doctor

    target = _target(_manifest(manifests))
    click.echo(f"Target {target.workspace}")
    with _client(target) as client:
        checks = run_doctor(client, write=write)
    colours = {"ok": "green", "warn": "yellow", "fail": "red", "skip": None}
    for c in checks:
        status = click.style(f"{c.status:<4}", fg=colours[c.status]) if _colour() else c.status
        click.echo(f"{status:<4}  {c.name:<12}  {c.detail}")
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        raise ChecksFailed(f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed")


@main.group()
def db() -> None:
    """The state database."""


@db.command("upgrade")
@state_option
def db_upgrade(state: str | None) -> None:
    """Create or migrate the state schema to the newest version."""
    store = _store(state)
    from scimctl.state.url import masked_url

    click.echo(f"State schema is up to date ({masked_url(store.url)}).")


@main.group("state")
def state_group() -> None:
    """Inspect and repair the recorded state."""


def _workspace(manifests: tuple[str, ...], workspace: str | None) -> str:
    return workspace or _target(_manifest(manifests)).workspace


workspace_option = click.option("--workspace", help="Workspace (default: the manifest's target).")


@state_group.command("list")
@manifest_option
@state_option
@workspace_option
def state_list(manifests: tuple[str, ...], state: str | None, workspace: str | None) -> None:
    """List the users scimctl manages."""
    store = _store(state)
    ws = _workspace(manifests, workspace)
    view = store.state(ws)
    click.echo(f"Workspace {ws}: lineage {view.lineage or '-'}, serial {view.serial}")
    for key, user in sorted(view.users.items()):
        click.echo(f"user   {key}\t{user.user_name}\t{user.id}")
    for name, gid in sorted(view.groups.items()):
        members = sum(1 for g, _ in view.memberships if g == name)
        click.echo(f"group  {name}\t{members} managed members\t{gid}")


@state_group.command("show")
@click.argument("key")
@manifest_option
@state_option
@workspace_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def state_show(
    key: str, manifests: tuple[str, ...], state: str | None, workspace: str | None, fmt: str
) -> None:
    """Show one managed user (by externalId or userName) or group (by name)."""
    from scimctl import commands
    from scimctl.output import render_record

    doc = commands.state_show(_store(state), _workspace(manifests, workspace), key)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        click.echo(render_record(doc), nl=False)


@state_group.command("rm")
@click.argument("address")
@manifest_option
@state_option
@workspace_option
@click.option(
    "--lock-timeout", default=0.0, show_default=True, type=FiniteFloat(0, 86_400),
    help="Seconds to wait for an apply's lock.",
)  # fmt: skip
def state_rm(
    address: str, manifests: tuple[str, ...], state: str | None, workspace: str | None,
    lock_timeout: float,
) -> None:  # fmt: skip
    """Stop managing user:KEY or group:NAME without touching it in Genesys."""
    from scimctl import commands

    store = _store(state)
    done = commands.state_rm(
        store, _workspace(manifests, workspace), address, lock_timeout=lock_timeout
    )
    who = f"{done.key} ({done.user_name})" if done.user_name else done.key
    click.echo(
        f"Released {done.resource} {who}, live id {done.live_id}: scimctl no longer manages it "
        f"and changed nothing in Genesys (run {done.run_id})."
    )
    if done.resource == "user":
        click.echo(
            "If the manifest still lists it, the next plan adopts it again; "
            "list it under exclude: to keep it out.",
            err=True,
        )


@state_group.command("unlock")
@manifest_option
@state_option
@workspace_option
def state_unlock(manifests: tuple[str, ...], state: str | None, workspace: str | None) -> None:
    """Release the lock left by a crashed apply."""
    store = _store(state)
    ws = _workspace(manifests, workspace)
    info = store.unlock(ws, notify=lambda message: click.echo(f"Note: {message}", err=True))
    if info is None:
        click.echo(f"{ws} was not locked.")
    else:
        from scimctl.output import iso

        click.echo(
            f"Released the lock held by {info.holder} since {iso(info.acquired_at)} "
            f"(run {info.run_id})."
        )


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
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--redact", is_flag=True, help="Mask personal data (emails, names, phones).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
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
    from scimctl.history import history as query
    from scimctl.history import redact as mask

    rows = query(
        _store(state), user=user, group=group, attribute=attribute, run=run_id, since=since,
        until=until, limit=limit, workspace=workspace,
    )  # fmt: skip
    if redact:
        rows = [mask(r) for r in rows]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        return
    if not rows:
        click.echo("No operations match." if (user or group or attribute or run_id or since
                   or until or workspace) else "No operations are recorded yet.")  # fmt: skip
        return
    _operations_table(rows, with_run=True)


def _operations_table(rows: list[dict[str, Any]], with_run: bool) -> None:
    from scimctl.history import describe_changes
    from scimctl.output import table

    headers = ["time", "run", "actor", "commit"] if with_run else ["time"]
    headers += ["action", "resource", "changes", "outcome", "status", "tries", "ms", "error"]
    out = []
    for r in rows:
        who = r["user_name"] or r["resource_key"]
        cells = [r["at"], r["run_id"][:8], r["actor"], (r["commit"] or "")[:10]][
            : 4 if with_run else 1
        ]
        cells += [
            r["action"], f"{r['resource']} {who}", describe_changes(r["changes"]), r["outcome"],
            r["status"], r["attempts"],
            f"{r['latency_ms']:.0f}" if r["latency_ms"] is not None else "", r["error"],
        ]  # fmt: skip
        out.append(cells)
    table(headers, out)


@history.command("runs")
@click.option("--kind", type=click.Choice(["plan", "apply"]), help="Only plans or applies.")
@click.option("--outcome", help="Only runs that ended so (succeeded, failed, crashed, ...).")
@click.option(
    "--since", type=Moment(), help="From this date (2026-11-01) or time (2026-11-01T09:00:00Z)."
)
@click.option("--until", type=Moment(), help="Before this date or time.")
@click.option("--workspace", help="Only this workspace.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@state_option
def history_runs(
    kind: str | None, outcome: str | None, since: datetime | None, until: datetime | None,
    workspace: str | None, limit: int, fmt: str, state: str | None,
) -> None:  # fmt: skip
    """Every run and how it ended, including refused, crashed and abandoned ones."""
    from scimctl.history import runs as query

    rows = query(
        _store(state), kind=kind, outcome=outcome, since=since, until=until, limit=limit,
        workspace=workspace,
    )  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        return
    if not rows:
        click.echo("No runs match." if (kind or outcome or since or until or workspace)
                   else "No runs are recorded yet.")  # fmt: skip
        return
    from scimctl.output import table

    table(
        ["started", "run", "kind", "outcome", "actor", "commit", "operations", "error"],
        [
            [r["started_at"], r["id"][:8], r["kind"], r["outcome"], r["actor"],
             (r["commit"] or "")[:10], r["operations"], r["error"]]
            for r in rows
        ],
    )  # fmt: skip


@history.command("show")
@click.argument("run_id")
@click.option("--redact", is_flag=True, help="Mask personal data (emails, names, phones).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@state_option
def history_show(run_id: str, redact: bool, fmt: str, state: str | None) -> None:
    """One run: who, when, from where, every operation it sent, how each went."""
    from scimctl.errors import NotFound
    from scimctl.history import redact as mask
    from scimctl.history import run_details

    run = run_details(_store(state), run_id)
    if run is None:
        raise NotFound(f"no single run matches {run_id!r}")
    if redact:
        run["operations"] = [mask(o) for o in run["operations"]]
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
    from scimctl.history import verify_chain

    report = verify_chain(_store(state), expect=expect)
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    if not report.ok:
        for problem in report.problems:
            _error(str(problem))
        raise ChecksFailed(f"the audit journal does not verify ({len(report.problems)} problems)")
    kind = "HMAC-SHA256" if report.keyed else "SHA-256"
    legacy = f" and {report.legacy_rows} rows from before the chain" if report.legacy_rows else ""
    click.echo(f"The chain is whole ({kind}): {report.entries} entries{legacy}.")
    if expect:
        click.echo("The expected head is in the chain.")
    click.echo(f"Head: {report.head_seq}:{report.head}")


@main.command()
@click.option("--run", "run_id", help="One run (id or unique prefix).")
@click.option(
    "--last", default=1, show_default=True, type=click.IntRange(1), help="Last N applies."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "prometheus"]), default="table",
    help="prometheus: totals over all runs, for a textfile collector or a pushgateway.",
)  # fmt: skip
@click.option("--workspace", help="Only this workspace.")
@state_option
def metrics(
    run_id: str | None, last: int, fmt: str, workspace: str | None, state: str | None
) -> None:
    """Apply metrics: per run, or as Prometheus series (totals, latency, last runs)."""
    from scimctl import commands

    store = _store(state)
    if fmt == "prometheus":
        from scimctl.metrics import prometheus

        if run_id:
            raise click.UsageError(
                "--format prometheus exports totals over all runs; --run does not apply"
            )
        click.echo(prometheus(store, workspace), nl=False)
        return
    from scimctl.output import iso

    data = [
        (m.run, m.metrics)
        for m in commands.run_metrics(store, run_id=run_id, last=last, workspace=workspace)
    ]
    if fmt == "json":
        doc = [
            {
                "run_id": r["id"], "workspace": r["workspace"], "kind": r["kind"],
                "outcome": r["outcome"], "started_at": iso(r["started_at"]),
                "finished_at": iso(r["finished_at"]) if r["finished_at"] else None,
                "error": r["error"], "metrics": m,
            }
            for r, m in data
        ]  # fmt: skip
        click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
        return
    if not data:
        click.echo("No apply runs are recorded yet.")
        return
    from scimctl.output import table

    for r, m in data:
        title = f"Run {r['id']} ({r['kind']}, {r['outcome']}, {iso(r['started_at'])})"
        if not m:
            click.echo(f"{title}: no operations ran" + (f": {r['error']}" if r["error"] else "."))
            continue
        table(["metric", "value"], [[k, f"{v:g}"] for k, v in sorted(m.items())], title=title)


@main.group()
def hris() -> None:
    """Provisioning events for the HR system."""


@hris.command("deliver")
@manifest_option
@state_option
def hris_deliver(manifests: tuple[str, ...], state: str | None) -> None:
    """Deliver the events still pending in the outbox to hris.webhook_url."""
    from scimctl import commands

    result = commands.hris_deliver(_manifest(manifests), _store(state))
    _delivery(result)
    if result.pending:
        raise Exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
