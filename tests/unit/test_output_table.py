"""Tables for people (scimctl/cli/output.py): fitted to the terminal, never cutting an id.

In-process, with the terminal's width from COLUMNS; the end-to-end check on a real
pty is in test_operator.py.
"""

from __future__ import annotations

import pytest

from scimctl.cli import output

RUN = "4e00d60e-0b1d-428a-892b-0aca0e0a67d7"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
NAME = "amir.khan.with.a.rather.long.name@example.com"
HEADERS = ["time", "run", "commit", "resource", "changes", "tries", "ms"]
ROW = ["2026-12-05T02:19:18Z", RUN, COMMIT, f"user {NAME}", "title: (unset) -> Lead", 1, 46]


def shown(capsys, monkeypatch, columns: int, *args, **kw) -> tuple[str, str]:
    monkeypatch.setattr(output, "on_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("NO_COLOR", "1")
    output.table(*args, **kw)
    out, err = capsys.readouterr()
    assert all(len(line) <= columns for line in out.splitlines()), out
    return out, err


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_ids_names_and_times_are_whole_at_any_width(capsys, monkeypatch, columns):
    out, _ = shown(capsys, monkeypatch, columns, HEADERS, [ROW, ROW],
                   keep=("time", "run", "commit"), drop=("ms", "tries"))  # fmt: skip
    for value in (RUN, COMMIT, NAME, "2026-12-05T02:19:18Z"):
        assert out.count(value) == 2, out
    assert "…" not in out


def test_the_least_useful_columns_go_first_and_the_note_says_so(capsys, monkeypatch):
    headers, row = ["time", "run", "action", "tries", "ms"], [ROW[0], RUN, "update", 1, 46]
    out, err = shown(capsys, monkeypatch, 78, headers, [row], keep=("time", "run"),
                     drop=("ms", "tries"))  # fmt: skip
    assert out.splitlines()[0].split() == ["time", "run", "action", "tries"]
    assert err.strip() == (
        "Left out to fit 78 columns: ms (shown piped, with --format json, or on a wider terminal)."
    )
    out, err = shown(capsys, monkeypatch, 120, headers, [row], keep=("time", "run"),
                     drop=("ms", "tries"))  # fmt: skip
    assert out.splitlines()[0].split() == headers and err == ""


def test_rows_too_wide_for_any_table_become_blocks(capsys, monkeypatch):
    out, err = shown(capsys, monkeypatch, 60, HEADERS, [ROW], keep=("time", "run", "commit"))
    assert f"run       {RUN}" in out and f"commit    {COMMIT}" in out and err == ""


def test_hostile_cells_are_shown_not_obeyed(capsys, monkeypatch):
    out, _ = shown(capsys, monkeypatch, 80, ["name"], [["[/] [bold]x[/bold] \x1b[31mred"]])
    assert "[/] [bold]x[/bold] \\x1b[31mred" in out and "\x1b" not in out


def test_piped_every_value_is_whole_and_tab_separated(capsys, monkeypatch):
    monkeypatch.setattr(output, "on_terminal", lambda: False)
    output.table(HEADERS, [ROW], keep=("run",), drop=("ms",))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["\t".join(HEADERS), "\t".join(str(c) for c in ROW)]
