"""Manifest strings free of control characters, and the ``review:`` section."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scimctl.errors import InputError
from scimctl.manifest import load_manifest


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_manifest(path)
    return [str(p) for p in info.value.problems]


def test_control_characters_in_any_manifest_string_are_located_errors(tmp_path):
    m = write(
        tmp_path / "scimctl.yaml",
        r"""
        version: 1
        target: {region: "mypurecloud.com\e[2J"}
        groups:
          - name: "Sales\u202e"
        users:
          - externalId: "HR-1\nHR-2"
            userName: a@example.com
            displayName: Ann
          - externalId: HR-3
            userName: b@example.com
            displayName: "Bob\0"
            title: "Agent\u0085"
            roles: [Employee, "Agent\t"]
          - externalId: "HR-4\n"
            userName: c@example.com
            displayName: Cy
          - externalId: HR-5
            "userName\e": d@example.com
        """,
    )
    found = problems(m)
    f = str(m)
    expected = [
        f"{f}:2: target.region: contains a control character U+001B (escape)",
        f"{f}:4: groups[0].name: contains a control character U+202E (right-to-left override)",
        f"{f}:6: users[0].externalId: contains a control character U+000A (line feed)",
        f"{f}:11: users[1].displayName: contains a control character U+0000 (null)",
        f"{f}:12: users[1].title: contains a control character U+0085",
        f"{f}:13: users[1].roles: contains a control character U+0009 (tab) "
        "at position 6 in item 2",
        # A trailing newline would otherwise be stripped away unseen.
        f"{f}:14: users[2].externalId: contains a control character U+000A (line feed)",
        f"{f}:17: users[3]: a key contains a control character U+001B (escape)",
    ]
    assert not any("\x1b" in p or "\n" in p for p in found), found
    for want in expected:
        assert any(p.startswith(want) for p in found), (want, found)


def test_control_characters_from_a_csv_are_reported_by_row(tmp_path):
    (tmp_path / "hr.csv").write_text(
        'id,mail,name\n1,a@example.com,"Ann\nSmith"\n2,b@example.com,Bob\x1b\n', encoding="utf-8"
    )
    m = write(
        tmp_path / "scimctl.yaml",
        """
        version: 1
        target: {region: mypurecloud.com}
        sources:
          - csv: hr.csv
            map:
              externalId: "{{ row.id }}"
              userName: "{{ row.mail }}"
              displayName: |-
                {{ row.name }}
        """,
    )
    found = problems(m)
    csv = str(tmp_path / "hr.csv")
    assert any(
        p.startswith(f"{csv}: row 2: displayName: contains a control character U+000A")
        for p in found
    ), found
    assert any(
        p.startswith(f"{csv}: row 3: displayName: contains a control character U+001B")
        for p in found
    ), found
    # Templates may span lines: only what they render is checked.
    assert not any("map" in p for p in found), found


def test_review_redact_lists_only_maskable_fields(tmp_path):
    base = "version: 1\ntarget: {region: mypurecloud.com}\n"
    m = write(tmp_path / "scimctl.yaml", base)
    assert load_manifest(m).review.redact == ["phoneNumbers", "workEmail"]
    m = write(tmp_path / "scimctl.yaml", base + "review: {redact: [userName, phoneNumbers]}\n")
    assert load_manifest(m).review.redact == ["userName", "phoneNumbers"]
    m = write(tmp_path / "scimctl.yaml", base + "review:\n  redact: [title]\n")
    (problem,) = problems(m)
    assert problem.startswith(f"{m}:4: review.redact[0]: Input should be")
    assert "'phoneNumbers'" in problem and "'userName'" in problem
