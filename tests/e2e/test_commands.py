"""The commands layer as a Python caller uses it: plain functions that return values
and raise scimctl errors, with no click, no printing and no exit."""

from __future__ import annotations

from conftest import user

from e2e.test_errors import one_line_error


def test_cli_lookups_end_in_one_line(workspace):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    one_line_error(workspace.run("state", "show", "ghost"), "nothing named 'ghost'")
    one_line_error(workspace.run("metrics", "--run", "nope"), "no single run matches")
    one_line_error(workspace.run("history", "show", "nope"), "no single run matches")
    one_line_error(
        workspace.run("history", "--since", "yesterday"), "'yesterday'", "2026-11-01", code=64
    )
    one_line_error(workspace.run("hris", "deliver"), "no hris.webhook_url")
