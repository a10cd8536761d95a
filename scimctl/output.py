"""Output for people: one timestamp format, colour only where wanted, readable tables.

Conventions every command follows: timestamps are ISO 8601 in UTC with ``Z``
(``2026-11-27T09:30:00Z``); colour only on a terminal and never when ``NO_COLOR``
is set (https://no-color.org) or ``--no-color`` is given; tables are drawn with rich
on a terminal and as plain aligned text in logs and pipes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from scimctl.state.clock import iso

__all__ = ["colour_enabled", "disable_colour", "iso", "render_record", "table"]


def colour_enabled() -> bool:
    return not os.environ.get("NO_COLOR")


def disable_colour() -> None:
    """``--no-color``: set NO_COLOR, which rich and every child process honour too."""
    os.environ["NO_COLOR"] = "1"


_TSV = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"})


def table(
    headers: list[str], rows: list[list[Any]], title: str | None = None, keep: tuple[str, ...] = ()
) -> None:
    """On a terminal, a table whose cells wrap but are never cut (``keep`` columns,
    timestamps and ids, are not even wrapped); piped, tab-separated lines (a header
    line first) that ``cut -f`` and spreadsheets read, a tab or newline in a cell
    escaped."""
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title)
        for i, h in enumerate(headers):
            if h in keep:
                widest = max([len(h), *(len(r[i]) for r in cells)])
                t.add_column(h, no_wrap=True, min_width=widest)
            else:
                t.add_column(h, overflow="fold")
        for row in cells:
            t.add_row(*row)
        Console(no_color=not colour_enabled()).print(t)
        return
    if title:
        click.echo(title)
    for row in [headers, *cells]:
        click.echo("\t".join(c.translate(_TSV) for c in row))


def _value(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def render_record(doc: dict[str, Any]) -> str:
    """A record as aligned ``name  value`` lines; a nested mapping is indented under its name."""
    lines: list[str] = []

    def emit(items: dict[str, Any], indent: str) -> None:
        width = max((len(k) for k in items), default=0)
        for key, value in items.items():
            if isinstance(value, dict) and value:
                lines.append(f"{indent}{key}:")
                emit(dict(sorted(value.items())), indent + "  ")
            else:
                lines.append(f"{indent}{key.ljust(width)}  {_value(value)}")

    emit(doc, "")
    return "\n".join(lines) + "\n"
