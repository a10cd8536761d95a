"""Tables for people: rich on a terminal, plain aligned text in logs and pipes."""

from __future__ import annotations

import sys
from typing import Any

import click


def table(headers: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(*headers, title=title)
        for row in cells:
            t.add_row(*row)
        Console().print(t)
        return
    if title:
        click.echo(title)
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for row in [headers, *cells]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
