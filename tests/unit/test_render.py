"""Rendering plans for reviewers: needs-review first, bounded comments, escaping, redaction."""

from __future__ import annotations

import re

import pytest

from scimctl.model import Policy
from scimctl.plan.model import Plan
from scimctl.plan.redact import redact_plan
from scimctl.plan.render import render, render_markdown
from unit.test_diff import desired, live, plan, spec, state, with_roles


def mixed_plan() -> Plan:
    """One of each: rename, privileged grant, deactivation through adoption, group
    removal, plus low-risk creates and additions."""
    d = desired(
        spec("E1", "renamed@example.com"),
        spec(
            "E2",
            "b@example.com",
            roles=["Employee", "User Admin"],
            title="Lead",
            department="Support",
            phoneNumbers=[["work", "+12125550100"]],
        ),
        spec("E5", "e@example.com", active=False),
        *(spec(f"N{i:03}", f"new{i}@example.com", ("Tier1",), title="Agent") for i in range(5)),
    )
    s = with_roles(
        live("u1", "a@example.com", "E1"),
        live("u2", "b@example.com", "E2", title="Agent"),
        live("u5", "e@example.com", "E5"),
        live("x", "it@example.com"),
        Sales={"u2"},
    )
    return plan(d, s, state(("E1", "u1", "a@example.com"), ("E2", "u2", "b@example.com")))


def test_text_and_markdown_start_with_every_action_that_needs_review():
    p = mixed_plan()
    text = render(p, "text")
    review, other = text.split("scimctl will perform these other actions:")
    assert review.index("Needs review: 4 actions") < review.index("<= adopt user E5")
    for line in (
        "<= adopt user E5 (e@example.com)",
        "effects: deactivation; adoption",
        "~ update user E1 (a@example.com)",
        "effects: userName change",
        "effects: privileged role granted: User Admin",
        "- remove 1 member from group 'Sales'",
    ):
        assert line in review
    assert "+ create user N000" in other and "create" not in review
    assert (
        "Effects: 1 deactivation (1 through adoption), 1 privileged role granted, "
        "5 non-privileged roles granted, 1 removal from a group, 1 userName change, "
        "1 adoption." in text
    )
    md = render(p, "markdown")
    assert md.index("#### Needs review (4)") < md.index("#### Other actions (7)")
    assert "| &lt;= | adopt user E5 (e@example.com) | deactivation; adoption |" in md


def test_summary_wording_has_right_plurals():
    p = mixed_plan()
    assert "Left alone: 1 live user and 0 group memberships that scimctl" in render(p, "text")
    assert "1 group losing members, " not in render(p, "text")
    assert "1 group losing members." in render(p, "text")


def big_plan(creates: int = 300) -> Plan:
    d = desired(
        spec("E1", "a@example.com", active=False),
        spec("E2", "b@example.com", roles=["Employee", "User Admin"]),
        *(
            spec(
                f"N{i:04}",
                f"new.person.{i}@example.com",
                ("Tier1",),
                title="Customer Support Agent",
                department="Customer Support",
                division="Home",
                phoneNumbers=[["work", f"+1212555{i:04}"]],
            )
            for i in range(creates)
        ),
        policy=Policy(max_deprovision="1"),
    )
    s = with_roles(live("u1", "a@example.com", "E1"), live("u2", "b@example.com", "E2"))
    return plan(d, s, state(("E2", "u2", "b@example.com")))


def test_a_cut_comment_drops_creates_and_additions_first_and_says_what_it_left_out():
    p = big_plan()
    md = render_markdown(p, limit=20_000)
    assert len(md) <= 20_000
    review = md[md.index("#### Needs review (2)") : md.index("#### Other actions")]
    assert "adopt user E1" in review and "deactivation; adoption" in review
    assert "privileged role granted: User Admin" in review
    shown = len(re.findall(r"^\| \+ \| create user N", md, flags=re.M))
    assert 0 < shown < 300
    assert f"<summary>create ({shown} of 300 shown)</summary>" in md
    assert (
        f"under the 20,000-character comment limit: {300 - shown} of 300 `create`, "
        "2 of 2 `add_members` (low-risk actions only; nothing that needs review is left "
        "out). Run `scimctl show plan.json`" in md
    )
    assert render_markdown(p, limit=10**7).count("create user N") == 300


def test_needs_review_is_never_cut_short():
    d = desired(
        *(spec(f"E{i:03}", f"u{i}@example.com", active=False) for i in range(200)),
        policy=Policy(max_deprovision="200"),
    )
    s = with_roles(*(live(f"u{i}", f"u{i}@example.com", f"E{i:03}") for i in range(200)))
    p = plan(d, s)
    assert "Changes are not shown" not in render_markdown(p, limit=30_000)
    compact = render_markdown(p, limit=20_000)
    assert len(compact) <= 20_000
    assert all(f"adopt user E{i:03} " in compact for i in range(200))
    assert "Changes are not shown here to keep every action listed" in compact
    tiny = render_markdown(p, limit=5_000)
    assert "adopt user" not in tiny
    assert "**200 actions need review: too many to list" in tiny


def test_live_control_characters_cannot_forge_plan_lines_or_table_cells():
    d = desired(spec("E1", "a@example.com", title="Lead"))
    evil = "x\n  - deactivate user CEO (ceo@example.com)\x1b[2J|\u202etxt.exe"
    s = with_roles(live("u1", "a@example.com", "E1", title=evil, displayName="A|B\r\n| x |"))
    p = plan(d, s, state(("E1", "u1", "a@example.com")))
    text = render(p, "text")
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert not any(line.lstrip().startswith("- deactivate") for line in text.splitlines())
    assert "\\n  - deactivate user CEO" in text and "\\u202etxt.exe" in text
    md = render(p, "markdown")
    rows = [line for line in md.splitlines() if line.startswith("| ~ |")]
    assert len(rows) == 1
    # Three cells (an edit is low-risk): every other pipe in the row is escaped.
    assert len(re.findall(r"(?<!\\)\|", rows[0])) == 4
    assert "\x1b" not in md and "\u202e" not in md


def test_redaction_masks_contact_data_and_keeps_what_review_needs():
    p = mixed_plan()
    text = render(p, "text", redact=True)
    assert "+12125550100" not in text and '[["work", "***"]]' in text
    for visible in ('"Lead"', '"Support"', "User Admin", "b@example.com", "Tier1"):
        assert visible in text
    names = redact_plan(p, ["userName", "phoneNumbers"])
    shown = render(names, "text") + render(names, "markdown") + names.to_json()
    assert "@example.com" in shown and not re.search(r"[a-z0-9]@example\.com", shown)
    assert names.review.redacted and names.review.redact == ["userName", "phoneNumbers"]
    assert redact_plan(names, ["userName", "phoneNumbers"]) == names
    assert [a.live_id for a in names.actions] == [a.live_id for a in p.actions]
    assert [a.version for a in names.actions] == [a.version for a in p.actions]
    with pytest.raises(ValueError, match="cannot redact title"):
        redact_plan(p, ["title"])


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_a_plan_renders_the_same_after_a_trip_through_its_file(fmt, tmp_path):
    p = mixed_plan()
    p.save(tmp_path / "plan.json")
    loaded = Plan.load(tmp_path / "plan.json")
    # The file sorts keys, so attribute order differs in memory; output must not.
    assert [list(a.changes) for a in loaded.actions] != [list(a.changes) for a in p.actions]
    assert render(loaded, fmt) == render(p, fmt)
    assert render(loaded, fmt, redact=True) == render(p, fmt, redact=True)


def test_colour_is_the_terminal_colour_click_would_write():
    """The engine writes ANSI colours itself (it imports no terminal library); each
    coloured line is what click.style would make of the plain one."""
    import click

    plain = render(mixed_plan(), "text").splitlines()
    coloured = render(mixed_plan(), "text", color=True).splitlines()
    styled = [(p, c) for p, c in zip(plain, coloured, strict=True) if p != c]
    assert {p.split()[0] for p, _ in styled} >= {"+", "~", "-"}
    for p, c in styled:
        assert c in {click.style(p, fg=f) for f in ("green", "yellow", "cyan", "red")}, c
    assert "\x1b[" not in "\n".join(plain)
