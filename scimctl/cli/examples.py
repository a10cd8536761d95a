"""One example at the end of every command's ``-h``: what a person types first.

Kept apart from the commands so each help text stays a description, and so a test
can check that no command goes without one.
"""

from __future__ import annotations

import click

EXAMPLES = {
    "validate": "scimctl validate -m scimctl.yaml",
    "plan": "scimctl plan --out plan.json --state postgresql+psycopg://scimctl@db/scimctl",
    "show": "scimctl show plan.json --format markdown",
    "apply": "scimctl apply plan.json",
    "drift": "scimctl drift --detailed-exitcode",
    "import": "scimctl import --region mypurecloud.com --out scimctl.yaml",
    "db": "scimctl db upgrade --state sqlite:///.scimctl/state.db",
    "db upgrade": "scimctl db upgrade --state sqlite:///.scimctl/state.db",
    "state": "scimctl state list",
    "state list": "scimctl state list --workspace genesys:https://api.mypurecloud.com",
    "state show": "scimctl state show E1001 --format json",
    "state rm": "scimctl state rm user:E1001",
    "state unlock": "scimctl state unlock",
    "history": "scimctl history --user amir.khan@example.com --since 2026-11-01",
    "history runs": "scimctl history runs --kind apply --limit 10",
    "history show": "scimctl history show 3f2a9c1e",
    "history verify": 'scimctl history verify --expect "$(cat head-from-last-week.txt)"',
    "metrics": "scimctl metrics --last 5",
    "hris": "scimctl hris deliver",
    "report": "scimctl report access --format html --out access.html",
    "report access": "scimctl report access --role Supervisor --as-of 2026-11-30",
    "report rules": "scimctl report rules --format json",
    "hris deliver": "scimctl hris deliver -m scimctl.yaml",
    "emulator": "scimctl emulator --seed examples/quickstart/seed.yaml --port 8999",
    "doctor": "scimctl doctor -m scimctl.yaml",
}


def add_examples(group: click.Group, prefix: str = "") -> None:
    """Set each command's epilog to its example (a command added without one gets a
    pointer to the README, and a test fails until it has one)."""
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        example = EXAMPLES.get(path)
        if example and not command.epilog:
            command.epilog = f"\b\nExample:\n  {example}"
        if isinstance(command, click.Group):
            add_examples(command, path + " ")
