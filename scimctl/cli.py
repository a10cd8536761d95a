"""The ``scimctl`` command: parse options, call the library, render, set the exit code.

Nothing here decides anything a Python caller of the library could not decide the
same way; errors that users can fix are printed as one clear message, never as a
traceback.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from scimctl import __version__
from scimctl.config import Target, load_credentials, resolve_target, state_url
from scimctl.errors import InputError, ScimctlError

DEFAULT_MANIFEST = "scimctl.yaml"


class Exit(Exception):
    """Leave with this exit code, having said what there was to say."""

    def __init__(self, code: int) -> None:
        self.code = code


class CommandFailed(ScimctlError):
    """A command-level refusal with its message (and exit code)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = code


def fail(message: str, code: int = 1) -> NoReturn:
    raise CommandFailed(message, code)


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Kept for commands written before the group-level boundary; it adds nothing."""
    return fn


class Boundary(click.Group):
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


class FiniteFloat(click.ParamType):
    """A float that is a real number of seconds: no NaN, no infinity, within a range."""

    name = "seconds"

    def __init__(self, low: float = 0.0, high: float = 86_400.0) -> None:
        self.low, self.high = low, high

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


manifest_option = click.option(
    "-m",
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(dir_okay=False),
    help=f"Manifest file (repeatable). Default: {DEFAULT_MANIFEST}.",
)
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


@click.group(cls=Boundary)
@click.version_option(__version__, prog_name="scimctl")
@click.option(
    "--debug", is_flag=True, envvar="SCIMCTL_DEBUG",
    help="Show the cause of errors and log requests (SCIMCTL_DEBUG=1).",
)  # fmt: skip
def main(debug: bool) -> None:
    """Plan and apply Genesys Cloud users from a manifest, over SCIM 2.0."""
    if debug:
        from scimctl.log import enable_debug_logging

        enable_debug_logging()


def _manifest(manifests: tuple[str, ...]) -> Any:
    from scimctl.manifest import load_manifest

    return load_manifest(list(manifests) or [DEFAULT_MANIFEST])


def _target(manifest: Any) -> Target:
    t = manifest.target
    return resolve_target(t.provider, t.region, t.api_url, t.login_url)


def _store(url: str | None) -> Any:
    from scimctl.state import Store

    return Store(state_url(url))


def _client(target: Target, parallelism: int = 8) -> Any:
    from scimctl.scim.client import GenesysClient

    return GenesysClient.connect(target, load_credentials(), parallelism=parallelism)


@main.command()
@manifest_option
@handled
def validate(manifests: tuple[str, ...]) -> None:
    """Check manifests offline: schema, emails, duplicates, groups, templates."""
    manifest = _manifest(manifests)
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
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
@click.option("--max-deprovision", type=click.IntRange(min=0), help="Allow this many deprovisions.")
@target_option
def plan(
    manifests: tuple[str, ...], state: str | None, out: str | None, fmt: str, redact: bool,
    redact_out: bool, detailed_exitcode: bool, max_deprovision: int | None,
    targets: tuple[str, ...],
) -> None:  # fmt: skip
    """Compute the operations that would make the directory match the manifest."""
    from scimctl.files import check_writable
    from scimctl.plan.redact import redact_plan
    from scimctl.plan.render import render

    if out:
        check_writable(out, "--out")
    manifest = _manifest(manifests)
    target = _target(manifest)
    with _client(target) as client:
        store = _store(state)
        result = _make_plan(manifest, target, client, store, max_deprovision, targets)
    if redact_out:
        result = redact_plan(result)
    if out:
        result.save(out)
    # The same value that was saved, so `show` of the file prints these same bytes.
    click.echo(render(result, fmt, redact=redact, color=_colour()), nl=False)
    if out:
        click.echo(f"Saved the plan to {out}. Apply it with: scimctl apply {out}", err=True)
    if detailed_exitcode and result.has_changes:
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
    return sys.stdout.isatty()


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
    from scimctl.config import resolve_target
    from scimctl.importer import ImportOptions

    if api_url or region:
        target = resolve_target("genesys", region, api_url, None)
        written = {"provider": "genesys", **({"region": region} if region else {})}
        if api_url:
            written["api_url"] = api_url
    else:
        manifest = _manifest(manifests)
        target = _target(manifest)
        written = {k: v for k, v in manifest.target.model_dump().items() if v is not None}
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
@handled
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
@target_option
def apply(
    plan_file: str | None, manifests: tuple[str, ...], state: str | None, auto_approve: bool,
    parallelism: int, lock_timeout: float, max_deprovision: int | None,
    targets: tuple[str, ...],
) -> None:  # fmt: skip
    """Run a saved plan, or plan now and run it after confirmation."""
    from scimctl.apply import apply_plan
    from scimctl.plan import Plan
    from scimctl.plan.render import render_text

    load_credentials()  # fail before touching the database
    store = _store(state)
    manifest = _manifest(manifests) if (manifests or plan_file is None) else None
    if plan_file and targets:
        fail("--target is for planning; a saved plan carries its own targets")
    if plan_file:
        the_plan = Plan.load(plan_file)
        t = the_plan.target
        target = Target(t["provider"], t["api_url"], t.get("login_url", t["api_url"]))
    else:
        target = _target(manifest)
        with _client(target) as client:
            the_plan = _make_plan(manifest, target, client, store, max_deprovision, targets)
        click.echo(render_text(the_plan, color=_colour()), nl=False)
    if not the_plan.has_changes:
        click.echo("Nothing to apply: the plan has no changes.")
        return
    webhook = _webhook(the_plan.policy.get("hris_webhook"))  # before anyone approves
    if plan_file is None and not auto_approve:
        if not sys.stdin.isatty():
            fail(
                "no terminal to ask for approval: save a plan and apply it, or pass --auto-approve"
            )
        if not click.confirm("Apply these changes?"):
            fail("not applied.")
    from scimctl.hris import password_sender
    from scimctl.progress import Progress

    generate = the_plan.policy.get("password") == "generate"
    with _client(target, parallelism) as client, Progress(len(_nodes(the_plan))) as progress:
        report = apply_plan(
            the_plan,
            client,
            store,
            workspace=_target(manifest).workspace if manifest is not None else None,
            manifest_digest=manifest.digest if manifest is not None and plan_file else None,
            parallelism=parallelism,
            lock_timeout=lock_timeout,
            progress=progress.update,
            outbox=webhook is not None,
            on_password=password_sender(webhook) if webhook and generate else None,
            notify=lambda message: click.echo(f"Note: {message}", err=True),
        )
    _report(report, exit_on_failure=False)
    if webhook is not None:
        _deliver(store, webhook, the_plan.workspace)
    if not report.ok:
        raise Exit(1)


def _webhook(url: str | None) -> Any:
    """The HRIS webhook, with its signing secret from the environment."""
    if not url:
        return None
    from scimctl.config import environment
    from scimctl.hris import Webhook

    secret = environment().get("SCIMCTL_WEBHOOK_SECRET")
    if not secret:
        fail("hris.webhook_url is set but SCIMCTL_WEBHOOK_SECRET is not: events must be signed")
    return Webhook(url, secret)


def _deliver(store: Any, webhook: Any, workspace: str) -> int:
    """Deliver pending events; return how many are still pending."""
    from scimctl.hris import deliver

    result = deliver(store, webhook, workspace=workspace)
    message = f"HRIS webhook: {result.delivered} events delivered, {result.pending} pending."
    if result.pending:
        message += f" Last error: {result.error}. Retry with `scimctl hris deliver`."
    click.echo(message, err=bool(result.pending))
    return result.pending


def _nodes(the_plan: Any) -> Any:
    from scimctl.apply.executor import build_graph

    return build_graph(the_plan)


def _report(report: Any, exit_on_failure: bool = True) -> None:
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
    if exit_on_failure and not report.ok:
        raise Exit(1)


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
@click.option("--rate-limit", default=None, help="Requests per token per minute, e.g. 300/min.")
@click.option(
    "--rate-window",
    default=60.0,
    type=FiniteFloat(0.01, 3_600),
    help="Rate-limit window (s); tests shorten it.",
)
@click.option(
    "--latency", default=0.0, type=FiniteFloat(0, 60_000), help="Added latency per request (ms)."
)
@click.option(
    "--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of 5xx answers."
)
@click.option(
    "--reset-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of dropped connections."
)
@click.option("--random-seed", default=None, type=int, help="Make injected faults reproducible.")
@handled
def emulator(
    host: str, port: int, seed: str | None, client_id: str, client_secret: str, token_ttl: int,
    rate_limit: str | None, rate_window: float, latency: float, error_rate: float,
    reset_rate: float,
    random_seed: int | None,
) -> None:  # fmt: skip
    """Serve a local Genesys Cloud SCIM API for tests and demos."""
    from scimctl.emulator.app import EmulatorConfig
    from scimctl.emulator.server import build_emulator, serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        fail("the emulator serves loopback only (127.0.0.1, localhost or ::1)")
    limit = None
    if rate_limit:
        text = rate_limit.strip().lower().removesuffix("/min")
        if not text.isdigit() or int(text) < 1:
            fail(f"--rate-limit {rate_limit!r}: use requests per minute, such as 300/min")
        limit = int(text)
    config = EmulatorConfig(
        client_id=client_id, client_secret=client_secret, token_ttl=token_ttl, rate_limit=limit,
        rate_window=rate_window,
        latency_ms=latency, error_rate=error_rate, reset_rate=reset_rate, random_seed=random_seed,
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


@main.group()
def db() -> None:
    """The state database."""


@db.command("upgrade")
@state_option
@handled
def db_upgrade(state: str | None) -> None:
    """Create or migrate the state schema to the newest version."""
    store = _store(state)
    click.echo(f"State schema is up to date ({_redact_url(store.url)}).")


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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
@handled
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
@handled
def state_show(
    key: str, manifests: tuple[str, ...], state: str | None, workspace: str | None
) -> None:
    """Show one managed user (by externalId or userName) or group (by name)."""
    import json

    store = _store(state)
    ws = _workspace(manifests, workspace)
    view = store.state(ws)
    for row in store.managed_user_rows(ws):
        if key in (row["key"], row["user_name"]) or key.lower() == row["user_name"].lower():
            groups = sorted(g for g, k in view.memberships if k == row["key"])
            doc = {
                "externalId": row["key"], "id": row["live_id"], "userName": row["user_name"],
                "version": row["version"], "attributes": row["attrs"], "groups": groups,
                "updated_at": str(row["updated_at"]),
            }  # fmt: skip
            click.echo(json.dumps(doc, indent=2, sort_keys=True))
            return
    if key in view.groups:
        members = sorted(k for g, k in view.memberships if g == key)
        doc = {"group": key, "id": view.groups[key], "managed_members": members}
        click.echo(json.dumps(doc, indent=2))
        return
    fail(f"nothing named {key!r} is managed in {ws}")


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
@handled
def state_unlock(manifests: tuple[str, ...], state: str | None, workspace: str | None) -> None:
    """Release the lock left by a crashed apply."""
    store = _store(state)
    ws = _workspace(manifests, workspace)
    info = store.unlock(ws)
    if info is None:
        click.echo(f"{ws} was not locked.")
    else:
        click.echo(
            f"Released the lock held by {info.holder} since {info.acquired_at} (run {info.run_id})."
        )


@main.group(invoke_without_command=True)
@click.option("--user", help="Only this person (externalId or userName).")
@click.option("--since", help="Only operations since this date (2026-11-01) or time.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@state_option
@click.pass_context
@handled
def history(
    ctx: click.Context, user: str | None, since: str | None, limit: int, fmt: str,
    state: str | None,
) -> None:  # fmt: skip
    """Who changed which account, when, and from which commit."""
    if ctx.invoked_subcommand:
        return
    from scimctl.history import history as query
    from scimctl.history import parse_since

    try:
        when = parse_since(since) if since else None
    except ValueError as exc:
        fail(str(exc))
    rows = query(_store(state), user=user, since=when, limit=limit)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    from scimctl.output import table

    table(
        ["time", "run", "actor", "commit", "action", "user", "status", "outcome", "tries", "ms"],
        [
            [
                r["at"][:19], r["run_id"][:8], r["actor"], _ci(r, "commit")[:10], r["action"],
                r["user_name"] or r["resource_key"], r["status"], r["outcome"], r["attempts"],
                f"{r['latency_ms']:.0f}" if r["latency_ms"] is not None else "",
            ]
            for r in rows
        ],
    )  # fmt: skip


def _ci(row: dict[str, Any], key: str) -> str:
    ci = row.get("ci") or {}
    if isinstance(ci, str):
        ci = json.loads(ci)
    return str(ci.get(key, ""))


@history.command("show")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@state_option
@handled
def history_show(run_id: str, fmt: str, state: str | None) -> None:
    """One run: who, when, from where, what it did, how it went."""
    from scimctl.history import run_details

    run = run_details(_store(state), run_id)
    if run is None:
        fail(f"no single run matches {run_id!r}")
    if fmt == "json":
        click.echo(json.dumps(run, indent=2, sort_keys=True, default=str))
        return
    ci = run.get("ci") or {}
    click.echo(f"Run {run['id']} ({run['kind']}) on {run['workspace']}")
    click.echo(f"  by {run['actor']} on {run['host']}, {run['started_at']} -> {run['finished_at']}")
    click.echo(f"  outcome {run['outcome']}" + (f": {run['error']}" if run.get("error") else ""))
    if ci:
        click.echo("  " + ", ".join(f"{k} {v}" for k, v in sorted(ci.items())))
    click.echo(f"  manifest {run['manifest_digest']}, plan {run['plan_digest']}")
    from scimctl.output import table

    table(
        ["action", "resource", "method", "path", "status", "outcome", "tries", "ms", "error"],
        [
            [
                o["action"], o["user_name"] or o["resource_key"], o["method"], o["path"],
                o["status"], o["outcome"], o["attempts"],
                f"{o['latency_ms']:.0f}" if o["latency_ms"] is not None else "", o["error"],
            ]
            for o in run["operations"]
        ],
    )  # fmt: skip


@history.command("verify")
@state_option
@handled
def history_verify(state: str | None) -> None:
    """Check the audit journal's hash chain; report the first broken link."""
    from scimctl.history import verify_chain

    report = verify_chain(_store(state))
    if report.ok:
        click.echo(
            f"The chain is whole: {report.rows} operations in {report.workspaces} workspaces."
        )
        return
    fail(
        f"the chain is broken at operation {report.broken_at} ({report.workspace}): {report.reason}"
    )


@main.command()
@click.option("--run", "run_id", help="One run (id or unique prefix).")
@click.option(
    "--last", default=1, show_default=True, type=click.IntRange(1), help="Last N applies."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "prometheus"]), default="table"
)
@state_option
@handled
def metrics(run_id: str | None, last: int, fmt: str, state: str | None) -> None:
    """Per-run metrics of applies: operations, latency percentiles, retries, 429s."""
    from scimctl.metrics import prometheus

    store = _store(state)
    if run_id:
        run = store.run(run_id)
        if run is None:
            fail(f"no single run matches {run_id!r}")
        runs = [run]
    else:
        runs = [r for r in store.runs(limit=1000) if r["kind"] == "apply"][:last]
    data = [(r, store.metrics(r["id"])) for r in runs]
    if not data and fmt == "table":
        click.echo("No apply runs are recorded yet.")
        return
    if fmt == "json":
        doc = [{"run_id": r["id"], "workspace": r["workspace"], "metrics": m} for r, m in data]
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    elif fmt == "prometheus":
        click.echo("".join(prometheus(r["id"], r["workspace"], m) for r, m in data), nl=False)
    else:
        from scimctl.output import table

        for r, m in data:
            table(
                ["metric", "value"],
                [[k, f"{v:g}"] for k, v in sorted(m.items())],
                title=f"Run {r['id']} ({r['outcome']}, {r['started_at']})",
            )


@main.group()
def hris() -> None:
    """Provisioning events for the HR system."""


@hris.command("deliver")
@manifest_option
@state_option
@handled
def hris_deliver(manifests: tuple[str, ...], state: str | None) -> None:
    """Deliver the events still pending in the outbox to hris.webhook_url."""
    manifest = _manifest(manifests)
    if manifest.hris is None:
        fail("the manifest has no hris.webhook_url")
    webhook = _webhook(manifest.hris.webhook_url)
    if _deliver(_store(state), webhook, _target(manifest).workspace):
        raise Exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
