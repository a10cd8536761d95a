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
