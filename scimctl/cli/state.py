"""The state database and the recorded state: db upgrade, state list/show/rm/unlock."""

from __future__ import annotations

import json

import click

from scimctl.cli.base import (
    FiniteFloat,
    format_opt,
    main,
    manifest_option,
    manifest_target,
    open_store,
    read_manifest,
    run_config,
    state_option,
)
from scimctl.text import count


@main.group()
def db() -> None:
    """The state database."""


@db.command("upgrade")
@state_option
def db_upgrade(state: str | None) -> None:
    """Create or migrate the state schema to the newest version."""
    from scimctl.commands import state as commands

    config = run_config()
    url = config.state_url(state, ci_needs_explicit=True)
    shown = commands.db_upgrade(url, audit_key=config.audit_key)
    click.echo(f"State schema is up to date ({shown}).")


@main.group("state")
def state_group() -> None:
    """Inspect and repair the recorded state."""


def _workspace(manifests: tuple[str, ...], workspace: str | None) -> str:
    return workspace or manifest_target(read_manifest(manifests)).workspace


workspace_option = click.option("--workspace", help="Workspace (default: the manifest's target).")


@state_group.command("list")
@manifest_option
@state_option
@workspace_option
def state_list(manifests: tuple[str, ...], state: str | None, workspace: str | None) -> None:
    """List the users and groups scimctl manages."""
    from scimctl.commands import state as commands

    store = open_store(state)
    ws = _workspace(manifests, workspace)
    view = commands.state_list(store, ws)
    click.echo(f"Workspace {ws}: lineage {view.lineage or '-'}, serial {view.serial}")
    for key, user in sorted(view.users.items()):
        click.echo(f"user   {key}\t{user.user_name}\t{user.id}")
    for name, gid in sorted(view.groups.items()):
        members = sum(1 for g, _ in view.memberships if g == name)
        click.echo(f"group  {name}\t{count(members, 'managed member')}\t{gid}")


@state_group.command("show")
@click.argument("key")
@manifest_option
@state_option
@workspace_option
@format_opt("json")
def state_show(
    key: str, manifests: tuple[str, ...], state: str | None, workspace: str | None, fmt: str
) -> None:
    """Show one managed user (by externalId or userName) or group (by name)."""
    from scimctl.cli.output import render_record
    from scimctl.commands import state as commands

    doc = commands.state_show(open_store(state), _workspace(manifests, workspace), key)
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
    from scimctl.commands import state as commands

    store = open_store(state)
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
    from scimctl.commands import state as commands

    store = open_store(state)
    ws = _workspace(manifests, workspace)
    info = commands.state_unlock(
        store, ws, notify=lambda message: click.echo(f"Note: {message}", err=True)
    )
    if info is None:
        click.echo(f"{ws} was not locked.")
    else:
        click.echo(f"Released the lock held by {info.describe()}.")
