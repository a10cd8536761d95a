"""The libyaml and the pure-Python loader read a manifest identically.

Manifests are composed by libyaml when PyYAML has it (for speed) and by PyYAML's
own composer when not; a user must get the same data, the same located issues and
the same error either way.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scimctl.manifest import yamlsrc

CASES = [
    "users:\n  - externalId: A\n    userName: a@example.com\n    roles: [Employee, Agent]\n",
    "users:\n  - externalId: A\nusers:\n  - externalId: B\n",  # duplicate key
    "a: 1\n? [x, y]\n: 2\n",  # a list as a key
    "hired: 2024-13-45\nwhen: 2024-01-02\n",  # not a date
    "base: &b {title: Agent}\nuser: {<<: *b, name: x}\n",  # anchors and merge keys
    "a: &a [1, 2]\nb: [*a, *a]\n",
    "x: " + "[" * 70 + "]" * 70 + "\n",  # deeper than MAX_DEPTH
    "x: " + "[" * 5000 + "]" * 5000 + "\n",  # deeper than libyaml's own limit
    "a: &a [" + ", ".join(["*a"] * 2) + "]\n",  # an alias to itself
    "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 8)),
    "a: [1, 2\nb: 3\n",  # not valid YAML
    "a: 'unterminated\n",
    "a: b\n\tc: d\n",  # a tab
    "a: \x07\n",  # a control character
    "a: 1\n---\nb: 2\n",  # two documents
    "",
]


def _outcome(text: str) -> Any:
    try:
        data, issues = yamlsrc.load_checked(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        return ("error", type(exc).__name__, exc.problem, mark and (mark.line, mark.column))
    except yaml.YAMLError as exc:
        return ("error", type(exc).__name__, str(exc))
    lines = None
    if isinstance(data, yamlsrc.Mapping):
        lines = (data.line, dict(data.key_lines))
    return ("ok", data, issues, lines)


@pytest.mark.skipif(yamlsrc._FAST is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("text", CASES)
def test_libyaml_and_pure_python_agree(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _outcome(text)
    monkeypatch.setattr(yamlsrc, "_FAST", None)
    assert _outcome(text) == fast


def test_big_manifest_keeps_every_line() -> None:
    text = "users:\n" + "".join(
        f"  - externalId: HR-{i}\n    userName: u{i}@example.com\n" for i in range(2000)
    )
    data, issues = yamlsrc.load_checked(text)
    assert not issues
    assert data["users"].item_lines[1999] == 2 + 2 * 1999
    assert yamlsrc.line_of(data, ("users", 1500, "userName")) == 3 + 2 * 1500


# Scalars whose type YAML 1.1 decides by more than their first character, and some
# that only look like they might be typed. The fast path in yamlsrc's resolver must
# type every one of them exactly as PyYAML's own resolver does.
TRICKY = [
    "yes", "Yes", "YES", "no", "No", "NO", "y", "Y", "n", "N", "true", "True", "TRUE",
    "tRUE", "false", "FALSE", "on", "On", "ON", "off", "OFF",
    "null", "Null", "NULL", "nULL", "~", "nil", "None", "none",
    "0", "00", "-0", "+0", "017", "0o17", "0O17", "0x1F", "0X1F", "-0x1f", "0b101", "+0b1",
    "1_000", "1__0", "0_7", "08", "09",
    "190:20:30", "1:20", "-1:20", "1:60", "12:30",
    "1e3", "1E3", "1.0e+3", "1e+3", "1.5e3", "1.", ".5", "+.5", "-.5", "1.0", "1_0.0_1",
    "6.8523015e+5", "685.230_15e+03",
    ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN", ".nAn", "inf", "nan",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
    "2001-12-15T02:59:43.1Z", "2001-1-2 3:04:05", "2024-13-45", "20011214",
    "+", "-", ".", "=", "..", "...", "--", "1-", "+x", "-x", ".x", "0x", "0b", "0o", "x0",
    "y2", "n/a", "N/A", "No.1", "yes!",
    "Team 01", "HR-00001", "user00001@example.com", "Agent", "Support", "Émile", "Ünïcode",
    "on call", "null value", "true story", "0 days", "1 000", "~user", "=x", "<<x",
]  # fmt: skip


def _shape(data: Any) -> Any:
    """Data with every scalar's type beside it: True == 1 == 1.0 must not pass."""
    if isinstance(data, dict):
        return sorted((repr(_shape(k)), _shape(v)) for k, v in data.items())
    if isinstance(data, list):
        return [_shape(v) for v in data]
    nan = isinstance(data, float) and data != data
    return (type(data).__name__, "nan" if nan else data)


def _typed(text: str, loader: Any) -> Any:
    try:
        return ("ok", yaml.load(text, Loader=loader))
    except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError on 2024-13-45
        return ("error", type(exc).__name__)


@pytest.mark.parametrize("scalar", TRICKY)
def test_scalars_are_typed_as_pyyaml_types_them(scalar: str) -> None:
    reference = yaml.resolver.Resolver()
    loaders = [yamlsrc._Loader] + ([yamlsrc._FAST] if yamlsrc._FAST is not None else [])
    for implicit in ((True, False), (False, True), (False, False)):
        expected = reference.resolve(yaml.ScalarNode, scalar, implicit)
        for loader in loaders:
            assert loader("").resolve(yaml.ScalarNode, scalar, implicit) == expected
    # And through a whole load, as a value and as a key, plain and quoted.
    for text in (f"k: {scalar}\n", f"{scalar}: v\n", f"k: '{scalar}'\n", f"k: [{scalar}]\n"):
        expected = _typed(text, yaml.SafeLoader)
        if expected == ("error", "ValueError"):  # a timestamp that is no date
            assert [i.line for i in yamlsrc.load_checked(text)[1]] == [1]
            continue
        if expected[0] == "error":
            continue  # not a plain scalar in this position (e.g. "- x" in a list)
        data, issues = yamlsrc.load_checked(text)
        assert not issues
        assert _shape(data) == _shape(expected[1]), text


def test_keys_equal_after_typing_are_duplicates_with_their_line() -> None:
    text = "users: []\nyes: 1\n'yes': 2\nYes: 3\n0x10: a\n16: b\n"
    data, issues = yamlsrc.load_checked(text)
    assert data == {"users": [], True: 1, "yes": 2, 16: "a"}
    assert [(i.line, i.message.split(":")[0]) for i in issues] == [
        (4, "duplicate key True"),
        (6, "duplicate key 16"),
    ]
    assert "also on line 2" in issues[0].message
