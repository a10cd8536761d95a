"""Every count a person reads says ``0 users``, ``1 user``, ``2 users`` (issue 25).

Each rendering function that prints a count is run in-process with 0, 1 and 2 of
the thing it counts; a guard reads scimctl's source for messages that pluralise by
hand (``user(s)``, ``'s' if n != 1``, ``{len(x)} users``), so that a new message goes
through the one helper, scimctl.text.count, or this test fails.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from scimctl.cli.progress import Progress, Reading
from scimctl.governance.render import blocking_message, text_lines
from scimctl.governance.report import ExceptionState, Finding, GovernanceReport
from scimctl.model import Policy, StateView
from scimctl.plan.cost import cost_line
from scimctl.plan.drift import DriftItem, DriftReport, render_drift
from scimctl.plan.model import Cost
from scimctl.plan.render import render
from scimctl.plan.warnings import new_state_warnings
from scimctl.text import count
from unit.test_diff import desired, live, plan, snapshot, spec, state

SOURCE = Path(__file__).resolve().parents[2] / "scimctl"


def test_the_helper_reads_right_for_zero_one_two_and_thousands():
    assert [count(n, "user") for n in (0, 1, 2, 1204)] == [
        "0 users", "1 user", "2 users", "1,204 users",
    ]  # fmt: skip
    assert [count(n, "entry", "entries") for n in (0, 1, 2)] == [
        "0 entries", "1 entry", "2 entries",
    ]  # fmt: skip
    phrase = ("operation was", "operations were")
    assert [count(n, *phrase) for n in (0, 1, 2)] == [
        "0 operations were", "1 operation was", "2 operations were",
    ]  # fmt: skip


def _review(n: int) -> str:
    """A plan that deactivates ``n`` managed accounts, as text."""
    leavers = [(f"E{i}", f"u{i}", f"u{i}@example.com") for i in range(n)]
    d = desired(
        spec("K", "k@example.com"), *(spec(k, name, active=False) for k, _, name in leavers),
        policy=Policy(max_deprovision="100%"),
    )  # fmt: skip
    s = snapshot(live("k", "k@example.com", "K"), *(live(i, name, k) for k, i, name in leavers))
    return render(plan(d, s, state(("K", "k", "k@example.com"), *leavers)), "text")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, None),
        (1, "Needs review: 1 action that takes away or changes access."),
        (2, "Needs review: 2 actions that take away or change access."),
    ],
)
def test_the_plan_review_header(n, expected):
    text = _review(n)
    if expected is None:
        assert "Needs review" not in text, text
    else:
        assert expected in text, text


@pytest.mark.parametrize(
    ("n", "head"),
    [
        (0, "No drift: the directory matches what scimctl last applied (0 managed users in w)."),
        (1, "1 change made outside scimctl (1 managed user in w)."),
        (2, "2 changes made outside scimctl (2 managed users in w)."),
    ],
)
def test_the_drift_report(n, head):
    items = tuple(
        DriftItem(f"E{i}", f"u{i}@example.com", f"u{i}", "title", "A", "B", None) for i in range(n)
    )
    for fmt in ("text", "markdown"):
        assert head in render_drift(DriftReport("w", items, n), fmt)


def _finding(i: int, status: str) -> Finding:
    return Finding(rule="SOD-1", description="d", user=f"E{i}", detail="x", status=status)


@pytest.mark.parametrize(
    ("n", "blocking", "existing"),
    [
        (1, "1 new policy.rules violation: SOD-1", "rule violations that exist now (1;"),
        (2, "2 new policy.rules violations: SOD-1", "rule violations that exist now (2;"),
    ],
)
def test_rule_violations(n, blocking, existing):
    new = GovernanceReport(as_of="2026-12-05", findings=[_finding(i, "new") for i in range(n)])
    assert blocking_message(new).startswith(blocking)
    old = GovernanceReport(as_of="2026-12-05", findings=[_finding(i, "existing") for i in range(n)])
    assert any(line.startswith("Needs review: " + existing) for line in text_lines(old))
    assert "violation" not in " ".join(text_lines(GovernanceReport(as_of="2026-12-05")))


@pytest.mark.parametrize(
    ("state_", "days", "shown"),
    [
        ("expiring", 0, "(0 days left)"), ("expiring", 1, "(1 day left)"),
        ("active", 2, "(2 days left)"), ("expired", -1, "(expired 1 day ago)"),
        ("expired", -2, "(expired 2 days ago)"),
    ],
)  # fmt: skip
def test_exception_days(state_, days, shown):
    e = ExceptionState(
        rule="SOD-1", user="E1", reason="r", until="2026-12-05", approved_by="a",
        state=state_, days_left=days,
    )  # fmt: skip
    assert shown in "\n".join(text_lines(GovernanceReport(as_of="2026-12-05", exceptions=[e])))


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, None),
        (1, "state is new: 1 account carries an externalId but is not in the manifest"),
        (2, "state is new: 2 accounts carry externalIds but are not in the manifest"),
    ],
)
def test_the_new_state_warning(n, expected):
    s = snapshot(*(live(f"u{i}", f"u{i}@example.com", f"X{i}") for i in range(n)))
    warnings = new_state_warnings(desired(), s, StateView.empty())
    assert warnings[0].startswith(expected) if expected else warnings == [], warnings


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "Cost: about 0 requests, ~60 s at 300 requests/min (0 tokens)."),
        (1, "Cost: about 1 request, ~60 s at 300 requests/min (1 token)."),
        (2, "Cost: about 2 requests, ~60 s at 300 requests/min (2 tokens)."),
    ],
)
def test_the_cost_line(n, expected):
    cost = Cost.model_construct(requests=n, writes=n, reads=0, per_minute=300, tokens=n, seconds=60)
    assert cost_line(cost) == expected


@pytest.mark.parametrize(
    ("n", "read", "applying"),
    [
        (0, "Read 0 users, groups and roles in 0 pages", "Applying: 0/0 operations, 0 failed"),
        (1, "Read 1 user, group or role in 1 page", "Applying: 1/1 operation, 1 failed"),
        (2, "Read 2 users, groups and roles in 2 pages", "Applying: 2/2 operations, 2 failed"),
    ],
)
def test_progress_lines(n, read, applying, capsys):
    with Reading() as reading:
        for _ in range(n):
            reading.page(1)
    assert read in capsys.readouterr().err

    class Failed:
        outcome = "failed"

    with Progress(interval=0) as progress:
        for done in range(1, n + 1):
            progress.update(Failed(), done, n)
        if not n:
            progress.update(type("Ok", (), {"outcome": "ok"})(), 0, 0)
    assert applying in capsys.readouterr().err


# -- the guard --------------------------------------------------------------------------

# Pluralising by hand: in code, and in a message.
_BY_HAND = re.compile(r"""['"]s['"] if |else ['"]s['"]|[=!]= 1 else ['"]|entr\{""")
_BY_HAND_TEXT = re.compile(r"\b(?!http\(s\))[a-z]+\(s\)")
# A number in a message followed by a plural noun: ``{len(rows)} rows``, ``{n} users``.
_COUNTED = re.compile(
    r"\{(?:len\([^{}]*\)|[a-z_.]*(?:count|total|missing|attempt|accounts|entries|items"
    r"|pages|rows|days|delivered|\bn\b)[a-z_.\[\]0-9]*)(?::,)?\} ([a-z]{2,}s)\b"
)
# Numbers that are always many: sizes over a limit of thousands, a rate's unit.
_ALWAYS_MANY = {"characters", "bytes"}


def _strings(path: Path) -> list[tuple[int, str]]:
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.STRING and not tok.string.startswith(('"""', "'''")):
            out.append((tok.start[0], tok.string))
    return out


def test_no_message_pluralises_by_hand():
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.name == "text.py" or "emulator" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if _BY_HAND.search(code) and '"""' not in code:
                found.append(f"{path.relative_to(SOURCE)}:{number}: {line.strip()}")
        for number, text in _strings(path):
            hit = _COUNTED.search(text)
            if hit and hit[1] not in _ALWAYS_MANY or _BY_HAND_TEXT.search(text):
                found.append(f"{path.relative_to(SOURCE)}:{number}: {text}")
    assert not found, "use scimctl.text.count:\n" + "\n".join(found)


def test_the_guard_finds_what_it_is_for():
    assert _BY_HAND.search("""f"{n} user{'s' if n != 1 else ''}" """)
    assert _BY_HAND_TEXT.search('"(3 problem(s))"')
    assert not _BY_HAND_TEXT.search('"an http(s) URL"')
    assert _BY_HAND.search('noun = "member" if n == 1 else "members"')
    assert _COUNTED.search('f"{len(rows)} rows: bad"') and _COUNTED.search('f"{n:,} users"')
    assert not _COUNTED.search("""f"{count(len(rows), 'row')}: bad" """)
