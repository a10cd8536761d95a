"""The service side: the local emulator and doctor's probe of a target."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from scimctl.cli.base import (
    FiniteFloat,
    PerMinute,
    colour,
    credentials,
    main,
    manifest_option,
    manifest_target,
    open_client,
    read_manifest,
)
from scimctl.errors import ChecksFailed
from scimctl.text import count

if TYPE_CHECKING:
    from scimctl.emulator.app import Emulator


@main.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on."
)
@click.option(
    "--port", default=8999, show_default=True, type=click.IntRange(1, 65_535),
    help="Port to listen on.",
)  # fmt: skip
@click.option("--seed", type=click.Path(exists=True, dir_okay=False), help="YAML/JSON seed file.")
@click.option(
    "--client-id", default="scimctl-emulator", show_default=True,
    help="OAuth client id the emulator accepts (GENESYS_CLIENT_ID on the scimctl side).",
)  # fmt: skip
@click.option(
    "--client-secret", default="emulator-secret", show_default=True,
    help="OAuth client secret the emulator accepts (GENESYS_CLIENT_SECRET).",
)  # fmt: skip
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
    "--org-rate-limit",
    default=None,
    type=PerMinute(),
    help="Requests per minute of all tokens together (the org's limit), e.g. 1500/min.",
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
@click.option(
    "--random-seed", default=None, type=click.IntRange(0, 2**63 - 1),
    help="Make injected faults reproducible.",
)  # fmt: skip
@click.option(
    "--patch-204", is_flag=True, help="Answer a successful PATCH with 204 and no body (RFC 7644)."
)
@click.option(
    "--page-cap",
    default=None,
    type=click.IntRange(1, 1_000_000),
    help="Return at most N items per page.",
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
    "--max-body", default=512_000, show_default=True, type=click.IntRange(0, 2**31 - 1),
    help="Largest request body in bytes (413 above it); 0 for no limit.",
)  # fmt: skip
def emulator(
    host: str, port: int, seed: str | None, client_id: str, client_secret: str, token_ttl: int,
    rate_limit: int | None, org_rate_limit: int | None, rate_window: float, latency: float,
    error_rate: float,
    reset_rate: float,
    random_seed: int | None, patch_204: bool, page_cap: int | None, version_conflict: str,
    search_lag: float, default_role: str, no_default_role: bool,
    default_role_mode: str, max_body: int,
) -> None:  # fmt: skip
    """Serve a local Genesys Cloud SCIM API for tests and demos."""
    from scimctl.commands import service as commands
    from scimctl.emulator.app import EmulatorConfig

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise click.BadParameter(
            "the emulator serves loopback only (127.0.0.1, localhost or ::1)", param_hint="--host"
        )
    config = EmulatorConfig(
        client_id=client_id, client_secret=client_secret, token_ttl=token_ttl,
        rate_limit=rate_limit, org_rate_limit=org_rate_limit,
        rate_window=rate_window,
        latency_ms=latency, error_rate=error_rate, reset_rate=reset_rate, random_seed=random_seed,
        patch_204=patch_204, page_cap=page_cap, version_conflict=int(version_conflict),
        search_lag=search_lag, default_role=None if no_default_role else default_role,
        default_role_mode=default_role_mode, max_body_bytes=max_body or None,
    )  # fmt: skip

    def announce(emu: Emulator) -> None:
        d = emu.directory
        click.echo(
            f"Genesys Cloud emulator on http://{host}:{port} "
            f"({count(len(d.users), 'user')}, {count(len(d.groups), 'group')}, "
            f"{count(len(d.roles), 'role')})",
            err=True,
        )

    commands.serve_emulator(seed, config, host, port, announce)


@main.command()
@manifest_option
@click.option(
    "--write", is_flag=True,
    help="Also create, patch and delete one throw-away user to probe PATCH and conflicts.",
)  # fmt: skip
def doctor(manifests: tuple[str, ...], write: bool) -> None:
    """Probe the manifest's target before a first apply: reachability, auth,
    capabilities, paging, inactive users, versions, roles (read-only by default)."""
    from scimctl.commands import service as commands
    from scimctl.scim.doctor import FAIL

    manifest = read_manifest(manifests)
    target = manifest_target(manifest)
    click.echo(f"Target {target.workspace}")
    with open_client(target, credentials(target)) as client:
        checks = commands.doctor(client, write=write, desired=manifest.desired)
    colours = {"ok": "green", "warn": "yellow", "fail": "red", "skip": None}
    for c in checks:
        status = click.style(f"{c.status:<4}", fg=colours[c.status]) if colour() else c.status
        click.echo(f"{status:<4}  {c.name:<12}  {c.detail}")
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        raise ChecksFailed(f"{count(len(failed), 'check')} failed")
