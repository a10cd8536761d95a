"""The service scimctl talks to (``cli/service.py``): doctor, and the local emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from scimctl.model import Desired
from scimctl.scim.client import ScimClient
from scimctl.scim.doctor import Check, run_doctor

if TYPE_CHECKING:
    from scimctl.emulator.app import Emulator, EmulatorConfig


def doctor(
    client: ScimClient, *, write: bool = False, desired: Desired | None = None
) -> list[Check]:
    """Probe the target before a first apply: reachability, auth, capabilities, paging,
    inactive users, versions, roles; with ``write``, one throw-away user too; with
    ``desired``, whether the service can hold what the manifest asks for."""
    return run_doctor(client, write=write, desired=desired)


def serve_emulator(
    seed: str | None,
    config: EmulatorConfig,
    host: str,
    port: int,
    announce: Callable[[Emulator], None],
) -> None:
    """Serve the local Genesys Cloud on ``host:port`` until interrupted; ``announce``
    is called with the seeded emulator once the port is held (so a caller can say what
    it serves only when it really serves it)."""
    from scimctl.emulator.server import build_emulator, serve

    emu = build_emulator(seed, config)
    serve(emu, host, port, lambda: announce(emu))
