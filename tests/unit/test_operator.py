"""The tired operator (issue 25): a mistyped state never silently becomes a new one,
global options go anywhere, bad arguments get one line, review output reads right.

The CLI runs in-process (flows.InProcess) against the emulator over loopback HTTP
and real SQLite files; the few checks that need a process of their own (a terminal,
Ctrl-C) run the installed ``scimctl``.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from scimctl.cli import main


def test_documented_options_exist_on_the_commands_they_are_documented_for():
    root = Path(__file__).resolve().parents[2]
    text = "\n".join(p.read_text() for p in [root / "README.md", *(root / "docs").glob("*.md")])
    spans = re.findall(r"`(scimctl [^`]+)`", text)
    spans += [ln.strip() for ln in text.splitlines() if re.match(r"(\S*/)?scimctl ", ln.strip())]
    everywhere = {o for p in main.params for o in getattr(p, "opts", [])} | {"-h", "--help"}
    checked = 0
    for span in spans:
        tokens = re.sub(r"^\S*/scimctl", "scimctl", span.split("#")[0]).split()[1:]
        command: click.Command = main
        for word in [t for t in tokens if not t.startswith("-")][:2]:
            if isinstance(command, click.Group) and word in command.commands:
                command = command.commands[word]
        known = everywhere | {
            o for p in command.params for o in [*getattr(p, "opts", []),
                                                 *getattr(p, "secondary_opts", [])]
        }  # fmt: skip
        for token in tokens:
            if token.startswith("--") and token != "--":
                option = token.split("=")[0].rstrip(",.;:)")
                assert option in known, f"{span!r}: {command.name} has no {option}"
                checked += 1
    assert checked > 20
    # "every command takes --no-color": after the subcommand too.
    assert "--no-color" in everywhere


def test_every_count_label_reads_right_for_zero_one_two_and_thousands():
    from scimctl.cli.base import count
    from scimctl.plan.render import EFFECT_LABELS, KIND_LABELS, plural

    for singular, many in [*KIND_LABELS.values(), *EFFECT_LABELS.values()]:
        assert plural(0, (singular, many)) == f"0 {many}"
        assert plural(1, (singular, many)) == f"1 {singular}"
        assert plural(2, (singular, many)) == f"2 {many}"
        assert plural(1234, (singular, many)) == f"1,234 {many}"
    assert [count(n, "user") for n in (0, 1, 2, 2000)] == [
        "0 users", "1 user", "2 users", "2,000 users"
    ]  # fmt: skip
