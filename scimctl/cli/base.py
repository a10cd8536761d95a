"""The ``scimctl`` group, its one error boundary, the shared options and the helpers
that turn options into library inputs (a manifest, a target, a client, a store).

Nothing here decides anything a Python caller of the library could not decide the
same way; errors that users can fix are printed as one clear message, never as a
traceback.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from scimctl import version_text
from scimctl.config import BearerToken, Config, Credentials, Target
from scimctl.errors import ConfigError, ExitCode, InputError, ScimctlError
from scimctl.text import count as count  # cli modules import the one helper from here

if TYPE_CHECKING:
    from scimctl.manifest import Manifest
    from scimctl.records.hris import Delivery
    from scimctl.scim.client import ScimClient
    from scimctl.scim.pool import Budget
    from scimctl.state import Store

DEFAULT_MANIFEST = "scimctl.yaml"
F = TypeVar("F", bound=Callable[..., Any])
MAX_ANSWER_ENV = "SCIMCTL_MAX_ANSWER_MB"
STARTED = "scimctl.started"


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
    keeps its traceback. A usage error exits 64, never click's 2, which
    ``--detailed-exitcode`` uses for "changes present".
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            _usage_exit(exc)
            raise

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(self, terraform_spellings(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's options or arguments
            _usage_exit(exc)
            raise
        except Exit as exc:
            ctx.exit(exc.code)
        except InputError as exc:
            error(f"{count(len(exc.problems), 'problem')} found:")
            for p in exc.problems:
                click.echo(f"  {p}", err=True)
            _debug_cause(exc)
            ctx.exit(exc.exit_code)
        except ScimctlError as exc:
            error(str(exc))
            _debug_cause(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except Exception as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            error(str(translated))
            _debug_cause(exc)
            ctx.exit(translated.exit_code)


def _usage_exit(exc: click.UsageError) -> None:
    """Make click's standalone handler, which shows the error, exit 64 for it.

    click exits with the exception's ``exit_code`` (a class attribute, 2); this
    instance's own value wins over it and keeps click's message, usage line and hint.
    """
    vars(exc)["exit_code"] = ExitCode.USAGE


# Single-dash spellings Terraform users type out of habit: hidden aliases of ours.
TERRAFORM_SPELLINGS = frozenset(
    {"out", "target", "detailed-exitcode", "auto-approve", "no-color", "state", "parallelism",
     "lock-timeout"}
)  # fmt: skip


def terraform_spellings(args: list[str]) -> list[str]:
    """``-out plan.json`` as ``--out plan.json``, with a one-line hint (once each).

    Click would read ``-out`` as ``-o ut`` and answer "No such option: -o".
    """
    out: list[str] = []
    hinted: set[str] = set()
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name = arg.partition("=")[0]
        if name[:1] == "-" and name[1:2] != "-" and name[1:] in TERRAFORM_SPELLINGS:
            if name not in hinted:
                hinted.add(name)
                click.echo(f"Note: scimctl spells {name} as -{name}; taking it so.", err=True)
            arg = "-" + arg
        out.append(arg)
    return out


def hoist_global_options(group: click.Group, args: list[str]) -> list[str]:
    """Move the group's own options (``--no-color``, ``--debug``, ``--retry-deadline``
    and any added later) given after the subcommand to before it, where click wants
    them, so ``scimctl plan --no-color`` works as people type it."""
    takes_value: dict[str, bool] = {}
    for param in group.params:
        if isinstance(param, click.Option) and param.name != "version":
            for opt in [*param.opts, *param.secondary_opts]:
                takes_value[opt] = not param.is_flag and not param.count

    def width(arg: str) -> int:  # tokens this option takes up, 0 when not a global one
        name = arg.partition("=")[0]
        if name not in takes_value:
            return 0
        return 2 if takes_value[name] and "=" not in arg else 1

    i = 0
    while i < len(args) and args[i] != "--":
        step = width(args[i])
        if not step and not args[i].startswith("-"):
            break  # the subcommand
        i += step or 1
    head, rest = args[: i + 1], args[i + 1 :]
    hoisted: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        if rest[j] == "--":
            kept += rest[j:]
            break
        step = width(rest[j])
        if step:
            hoisted += rest[j : j + step]
            j += step
        else:
            kept.append(rest[j])
            j += 1
    return hoisted + head + kept


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


def error(message: str) -> None:
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


class Format(click.Choice):  # type: ignore[type-arg]
    """An output format; ``table`` is accepted for ``text``, the human format's one name."""

    ALIASES = {"table": "text"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.lower() in self.ALIASES and "text" in self.choices:
            value = self.ALIASES[value.lower()]
        return super().convert(value, param, ctx)


def format_opt(*choices: str, help: str = "") -> Callable[[F], F]:
    """``--format``: ``text`` (for people; ``table`` also works) or a format for tools."""
    return click.option(
        "--format", "fmt", type=Format(["text", *choices]), default="text", show_default=True,
        help=help or "text for people (also: table); json for tools.",
    )  # fmt: skip


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A date (2026-11-01) or an ISO time (2026-11-01T09:00:00Z); naive means UTC."""

    name = "date"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        from scimctl.records.history import parse_time

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
    "--as-of", envvar="SCIMCTL_AS_OF", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="DATE",
    help="Plan for this day (YYYY-MM-DD, SCIMCTL_AS_OF): users whose provision_from is "
    "later are not desired yet. Apply must be given the same day as its plan.",
)  # fmt: skip
state_option = click.option(
    "--state", "state", envvar="SCIMCTL_STATE", metavar="URL",
    help="State database URL (SCIMCTL_STATE). Default: sqlite:///.scimctl/state.db, "
    "refused when CI is set.",
)  # fmt: skip
format_option = format_opt(
    "markdown", "json",
    help="text for a terminal (also: table), markdown for a pull-request comment, json for "
    "tools (the plan document).",
)  # fmt: skip
target_option = click.option(
    "--target", "targets", multiple=True, metavar="user:KEY|group:NAME",
    help="Plan only this user or group and what it needs (repeatable); the plan is partial.",
)  # fmt: skip
tokens_option = click.option(
    "--tokens", type=click.IntRange(1, 50), default=None,
    help="OAuth tokens in the pool, each with its own rate limit (else target.tokens, 1).",
)  # fmt: skip
redact_option = click.option(
    "--redact", is_flag=True,
    help="Mask contact data (the manifest's review.redact; default phoneNumbers, workEmail).",
)  # fmt: skip


@click.group(
    cls=Boundary, context_settings={"help_option_names": ["-h", "--help"], "show_default": True}
)
@click.version_option(version_text(), prog_name="scimctl", message="%(prog)s %(version)s")
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
@click.option(
    "--timeout", default=1_800.0, show_default=True, type=FiniteFloat(1, 86_400),
    envvar="SCIMCTL_TIMEOUT",
    help="Seconds the whole command may talk to the service; then it stops with an "
    "error, the run recorded as failed (SCIMCTL_TIMEOUT).",
)  # fmt: skip
@click.pass_context
def main(
    ctx: click.Context, debug: bool, no_color: bool, retry_deadline: float, timeout: float
) -> None:
    """Plan and apply Genesys Cloud users from a manifest, over SCIM 2.0."""
    from scimctl.cli.output import colour_enabled, disable_colour

    ctx.meta[STARTED] = time.monotonic()
    # The environment over .env, read once here for the whole command.
    ctx.obj = Config.load()

    if debug:
        from scimctl.cli.log import enable_debug_logging

        enable_debug_logging()
    if no_color:
        disable_colour()
    if not colour_enabled():
        ctx.color = False


def run_config() -> Config:
    """This run's configuration, read when the command started (see :func:`main`)."""
    ctx = click.get_current_context()
    config = ctx.find_object(Config)
    if config is None:  # a command invoked without the group (a test's direct call)
        config = ctx.find_root().obj = Config.load()
    return config


def read_manifest(manifests: tuple[str, ...], as_of: date | None = None) -> Manifest:
    """The manifest files given (``scimctl.yaml`` when none), read for the day ``as_of``."""
    from scimctl.commands.plans import validate

    day = as_of.date() if isinstance(as_of, datetime) else as_of
    return validate(list(manifests) or [DEFAULT_MANIFEST], day)


def manifest_target(manifest: Manifest) -> Target:
    from scimctl.commands.plans import target_of

    return target_of(manifest)


def open_store(url: str | None, *, create: bool = False) -> Store:
    """The state at ``url``; one that does not exist is an error unless ``create``.

    Every command refuses the local default when ``CI`` is set: a runner's disk holds
    no state worth reading, and a new one there would lie.
    """
    return store_at(run_config().state_url(url, ci_needs_explicit=True), create=create)


def store_at(resolved: str, *, create: bool) -> Store:
    """The state at an already resolved URL, journaling under ``SCIMCTL_AUDIT_KEY``."""
    from scimctl.state import Store

    return Store(resolved, create=create, audit_key=run_config().audit_key)


def checked_state_url(url: str | None) -> str:
    """The state URL, refused before any work when it could only be a throw-away state."""
    from scimctl.state.location import prepare_directory

    resolved = run_config().state_url(url, ci_needs_explicit=True)
    prepare_directory(resolved, create=False)
    return resolved


new_state_option = click.option(
    "--new-state", is_flag=True,
    help="Start a new state when --state names none yet, even though the plan adopts "
    "accounts already in the directory (as a lost state would).",
)  # fmt: skip


def plan_key() -> str | None:
    """SCIMCTL_PLAN_KEY (environment or .env); never printed, saved or stored."""
    from scimctl.plan.integrity import plan_key

    return plan_key(run_config().values)


def run_budget(manifest: Manifest | None, tokens: int | None) -> Budget:
    """The token pool and org ceiling of this run: --tokens wins over target.tokens."""
    from scimctl.scim.pool import Budget

    if manifest is None:  # import from --api-url/--region: no target block
        return Budget(tokens=tokens or 1)
    target = manifest.target
    return Budget(
        tokens=tokens or target.tokens,
        max_rate=target.max_rate,
        clients=tuple((c.id, c.secret) for c in target.clients),
    )


def credentials(target: Target) -> Credentials | BearerToken:
    """The run's credentials for ``target``'s provider; load them once per command and
    hand them to every :func:`open_client` of it."""
    return run_config().credentials(target.provider)


def open_client(
    target: Target,
    credentials: Credentials | BearerToken,
    parallelism: int = 8,
    budget: Budget | None = None,
) -> ScimClient:
    from scimctl.scim.bounded import DEFAULT_REQUEST_SECONDS, Bounds
    from scimctl.scim.client import connect
    from scimctl.scim.transport import RetryPolicy

    ctx = click.get_current_context()
    params = ctx.find_root().params
    deadline = params["retry_deadline"]
    # The command's deadline counts from its start, not from the first connection.
    left = params["timeout"] - (time.monotonic() - ctx.meta.get(STARTED, time.monotonic()))
    bounds = Bounds.for_command(
        max(0.0, left), min(DEFAULT_REQUEST_SECONDS, deadline), max_answer_bytes()
    )
    bounds.command_seconds = params["timeout"]
    client = connect(
        target,
        credentials,
        parallelism=parallelism,
        retry=RetryPolicy(deadline=deadline),
        bounds=bounds,
        budget=budget,
        env=run_config().values,
    )
    client.notify = say_once(ctx.find_root().meta.setdefault("notes said", set()))
    return client


def say_once(said: set[str]) -> Callable[[str], None]:
    """What a client learns about the service (a fallback it takes), said as it happens
    and once a command: `apply --auto-approve` plans and applies with a client each,
    and both learn the same. (Apply's workers call it: they have no click context.)"""

    def say(note: str) -> None:
        if note not in said:
            said.add(note)
            click.echo(f"Note: {note}", err=True)

    return say


def max_answer_bytes() -> int | None:
    """SCIMCTL_MAX_ANSWER_MB: the size limit of one answer, for services whose pages
    are huge (default 8 MB)."""
    import os

    text = os.environ.get(MAX_ANSWER_ENV, "").strip()
    if not text:
        return None
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = math.nan
    if not math.isfinite(megabytes) or not 0 < megabytes <= 4096:
        raise ConfigError(f"{MAX_ANSWER_ENV}={text!r}: use a number of megabytes such as 32")
    return int(megabytes * 2**20)


def colour() -> bool:
    from scimctl.cli.output import colour_enabled

    return sys.stdout.isatty() and colour_enabled()


def show_delivery(result: Delivery) -> None:
    message = (
        f"HRIS webhook: {count(result.delivered, 'event')} delivered, {result.pending:,} pending."
    )
    if result.pending:
        message += f" Last error: {result.error}. Retry with `scimctl hris deliver`."
    click.echo(message, err=bool(result.pending))
