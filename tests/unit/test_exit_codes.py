"""Exit codes a script can branch on: 2 means "changes present" and nothing else.

Before, click's usage errors exited 2, so ``drift --detailed-exitcode --no-such-flag``
looked like drift to a CI job. Every command is run here, as users run it.
"""

from __future__ import annotations

import click

from scimctl.cli import main


def every_command(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            found += every_command(cmd, (*path, name))
        else:
            found.append((*path, name))
    return found


COMMANDS = every_command(main)


def test_every_command_is_covered():
    # A new command is picked up from the CLI itself; this only guards the walk.
    assert {("plan",), ("drift",), ("apply",), ("state", "list"), ("db", "upgrade")} <= set(
        COMMANDS
    )
