"""Output for people: one timestamp format, colour only where wanted, readable tables.

Conventions every command follows: timestamps are ISO 8601 in UTC with ``Z``
(``2026-11-27T09:30:00Z``); colour only on a terminal and never when ``NO_COLOR``
is set (https://no-color.org) or ``--no-color`` is given; tables are drawn with rich
on a terminal and as plain aligned text in logs and pipes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

import click

from scimctl.state.clock import iso

__all__ = [
    "colour_enabled", "disable_colour", "iso", "on_terminal", "render_record", "say", "table",
]  # fmt: skip


def colour_enabled() -> bool:
    return not os.environ.get("NO_COLOR")


def disable_colour() -> None:
    """``--no-color``: set NO_COLOR, which rich and every child process honour too."""
    os.environ["NO_COLOR"] = "1"


def on_terminal() -> bool:
    """Output for a person (a table fitted to the terminal) rather than for a pipe."""
    return sys.stdout.isatty()


def say(text: str) -> None:
    """A line for a person, wrapped to the terminal between words, never inside one."""
    if on_terminal():
        text = _wrap(_visible(text), shutil.get_terminal_size().columns)
    click.echo(text)


def _visible(text: str) -> str:
    """Control and format characters from a directory or a file as escapes, on a
    terminal: an ESC in a name must not drive the terminal (newlines are kept, as
    line breaks inside a cell)."""
    import unicodedata

    return "".join(
        ch
        if ch == "\n" or unicodedata.category(ch)[0] != "C" and ch not in "\u2028\u2029"
        else f"\\u{ord(ch):04x}"
        if ord(ch) > 0xFF
        else f"\\x{ord(ch):02x}"
        for ch in text
    )


_TSV = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"})


def table(
    headers: list[str],
    rows: list[list[Any]],
    title: str | None = None,
    keep: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
) -> None:
    """On a terminal, a table that is never cut: ``keep`` columns (timestamps, ids) are
    never wrapped, other cells wrap between words but never inside one (a userName is
    one word). When that cannot fit the terminal, the ``drop`` columns go first, least
    important first, and a note on stderr names them; when even that cannot fit, each
    row is printed as a block of ``name  value`` lines. Piped, tab-separated lines (a
    header line first, every value whole) that ``cut -f`` and spreadsheets read, a tab
    or newline in a cell escaped."""
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if not on_terminal():
        if title:
            click.echo(title)
        for row in [headers, *cells]:
            click.echo("\t".join(c.translate(_TSV) for c in row))
        return
    cells = [[_visible(c) for c in row] for row in cells]
    width, height = shutil.get_terminal_size()
    if title:
        click.echo(_wrap(title, width))
    shown = list(range(len(headers)))
    left_out: list[str] = []
    for name in (None, *drop):
        if name is not None and name in headers:
            shown.remove(headers.index(name))
            left_out.append(name)
        widths = _fit([headers[i] for i in shown], [[r[i] for r in cells] for i in shown],
                      keep, width)  # fmt: skip
        if widths is not None:
            break
    if widths is None:
        _records(headers, cells, width)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for i, w in zip(shown, widths, strict=True):
        t.add_column(headers[i], width=w, no_wrap=headers[i] in keep, overflow="fold")
    for row in cells:  # Text: a "[/]" in a name is shown, not read as rich markup
        t.add_row(*(Text(row[i]) for i in shown))
    Console(no_color=not colour_enabled(), width=width, height=height).print(t)
    if left_out:
        click.echo(
            f"Left out to fit {width:,} columns: {', '.join(left_out)} "
            "(shown piped, with --format json, or on a wider terminal).",
            err=True,
        )


_GAP = 3  # between two columns of the table: padding, a blank rule, padding


def _fit(
    headers: list[str], columns: list[list[str]], keep: tuple[str, ...], width: int
) -> list[int] | None:
    """Column widths that fit ``width`` without breaking a word (or a ``keep`` cell
    at all), or None. Space beyond the minimum goes to the narrowest needs first, so
    short columns stay on one line and the long ones wrap."""
    low, high = [], []
    for header, col in zip(headers, columns, strict=True):
        lines = [line for c in col for line in c.splitlines()] or [""]
        longest = max(len(line) for line in lines)
        word = max((len(w) for line in lines for w in line.split()), default=0)
        low.append(max(len(header), longest if header in keep else word, 1))
        high.append(max(len(header), longest, 1))
    room = width - _GAP * (len(headers) - 1)
    if sum(low) > room:
        return None
    spare = room - sum(low)
    widths = list(low)
    order = sorted(
        (i for i in range(len(widths)) if high[i] > low[i]), key=lambda i: high[i] - low[i]
    )
    for k, i in enumerate(order):
        share = min(high[i] - low[i], spare // (len(order) - k))
        widths[i] += share
        spare -= share
    return widths


def _wrap(text: str, width: int, indent: str = "") -> str:
    """Wrapped between words only: an id or a userName longer than the line stays whole."""
    import textwrap

    return "\n".join(
        textwrap.fill(
            line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
        )
        or line
        for line in text.splitlines() or [""]
    )


def _records(headers: list[str], cells: list[list[str]], width: int) -> None:
    """Rows too wide for any table on this terminal: one block per row, every value whole."""
    pad = max(len(h) for h in headers) + 2
    for n, row in enumerate(cells):
        if n:
            click.echo("")
        for header, value in zip(headers, row, strict=True):
            if value:
                text = ("\n" + " " * pad).join(value.splitlines())
                click.echo(_wrap(header.ljust(pad) + text, width, " " * pad))


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
