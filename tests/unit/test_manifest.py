"""Manifest loading and offline validation: every problem, with file, line/row, field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scimctl.errors import InputError
from scimctl.manifest import load_manifest


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def problems(*paths: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_manifest(list(paths))
    return [str(p) for p in info.value.problems]


def test_valid_manifest_with_defaults_and_csv(tmp_path):
    write(
        tmp_path / "hr.csv",
        """
        id,mail,first,last,team,phone
        7,A.B@Example.com,Ann,Bee,Support,+15555550100
        """,
    )
    m = write(
        tmp_path / "scimctl.yaml",
        """
        version: 1
        target: {region: mypurecloud.ie}
        defaults: {roles: [Employee], division: Home}
        groups:
          - name: Support
          - name: Tier1
            parent: Support
        users:
          - externalId: 1
            userName: x@example.com
            displayName: X
            groups: [Tier1]
        sources:
          - csv: hr.csv
            map:
              externalId: "HR-{{ row.id }}"
              userName: "{{ row.mail | lower }}"
              displayName: "{{ row.first }} {{ row.last }}"
              groups: "{{ row.team }}"
              phoneNumbers: "mobile:{{ row.phone }}"
        """,
    )
    manifest = load_manifest(m)
    users = manifest.desired.users
    assert set(users) == {"1", "HR-7"}
    assert users["1"].attrs["roles"] == ["Employee"]
    assert users["1"].attrs["division"] == "Home"
    assert users["HR-7"].attrs["userName"] == "a.b@example.com"
    assert users["HR-7"].attrs["phoneNumbers"] == [["mobile", "+15555550100"]]
    assert users["HR-7"].groups == ("Support",)
    assert manifest.digest.startswith("sha256:")


def test_every_problem_is_reported_with_line_and_field(tmp_path):
    write(
        tmp_path / "hr.csv",
        """
        id,mail,name
        1,good@example.com,Good
        2,bad-email,Bad
        3,third@example.com,Third
        """,
    )
    m = write(
        tmp_path / "scimctl.yaml",
        """
        version: 1
        target: {api_url: "http://127.0.0.1:1"}
        policy: {max_group_depth: 2}
        groups:
          - name: A
          - name: B
            parent: A
          - name: C
            parent: B
          - name: X
            parent: Y
          - name: L1
            parent: L2
          - name: L2
            parent: L1
        users:
          - externalId: E1
            userName: one@example.com
            displayName: One
            phoneNumbers: [{type: work, value: "+15555550100"}]
          - externalId: E1
            userName: ONE@example.com
            displayName: Dup
            groups: [Nope]
          - externalId: E3
            userName: "not an email"
            displayName: Three
          - externalId: E4
            userName: four@example.com
            displayName: ""
            colour: blue
          - externalId: E5
            userName: five@example.com
            displayName: Five
            phoneNumbers: [{type: work, value: "555-0100"}]
        sources:
          - csv: hr.csv
            map:
              externalId: "{{ row.id }}"
              userName: "{{ row.mail }}"
              displayName: "{{ row.nmae }}"
        """,
    )
    found = problems(m)
    text = "\n".join(found)
    p = str(m)
    # schema and type errors, each with its line
    assert f"{p}:35: users[4].phoneNumbers[0].value: '555-0100' is not an E.164" in text
    assert f"{p}:26: users[2].userName: 'not an email' is not a valid email address" in text
    assert f"{p}:30: users[3].displayName:" in text
    assert f"{p}:31: users[3].colour: Extra inputs are not permitted" in text
    # duplicates, references, hierarchy
    assert f"{p}:21: externalId: 'E1' is also used at {p}:17" in text
    assert f"{p}:21: userName: 'ONE@example.com' is also used at {p}:17" in text
    assert f"{p}:21: groups: unknown group 'Nope'" in text
    assert f"{p}:10: parent: unknown group 'Y'" in text
    assert "cycle: L1 -> L2 -> L1" in text or "cycle: L2 -> L1 -> L2" in text
    assert (
        f"{p}:8: parent: group 'C' is 3 levels deep (C < B < A); policy.max_group_depth is 2"
        in text
    )
    # the CSV header is checked once: a misspelt column is one error, not one per row
    csv = str(tmp_path / "hr.csv")
    assert (
        f"{csv}: row 1: column 'nmae' (used by displayName) is not in the header; "
        "the columns are: 'id', 'mail', 'name'" in text
    )
    assert f"{csv}: row 3: userName: 'bad-email' is not a valid email address" in text
    assert not any("row 2" in line or "row 4" in line for line in found)


def test_csv_validation_names_row_and_field(tmp_path):
    write(tmp_path / "hr.csv", "id,mail\n1,ok@example.com\n2,nope\n")
    m = write(
        tmp_path / "m.yaml",
        """
        target: {api_url: "http://127.0.0.1:1"}
        sources:
          - csv: hr.csv
            map:
              externalId: "{{ row.id }}"
              userName: "{{ row.mail }}"
              displayName: "N{{ row.id }}"
        """,
    )
    assert problems(m) == [
        f"{tmp_path / 'hr.csv'}: row 3: userName: 'nope' is not a valid email address"
    ]


def test_template_sandbox_blocks_python_internals(tmp_path):
    write(tmp_path / "hr.csv", "id\n1\n")
    m = write(
        tmp_path / "m.yaml",
        """
        target: {api_url: "http://127.0.0.1:1"}
        sources:
          - csv: hr.csv
            map:
              externalId: "{{ row.__class__.__mro__[1].__subclasses__() }}"
              userName: "a@example.com"
              displayName: "A"
        """,
    )
    found = problems(m)
    assert any("row 2: externalId: template error" in p for p in found), found


def test_yaml_syntax_error_has_line(tmp_path):
    m = write(tmp_path / "m.yaml", "target: {api_url: x}\nusers:\n  - [unclosed\n")
    (problem,) = problems(m)
    assert problem.startswith(f"{m}:") and "not valid YAML" in problem


def test_missing_file_and_missing_csv(tmp_path):
    m = write(
        tmp_path / "m.yaml",
        """
        target: {api_url: "http://127.0.0.1:1"}
        sources:
          - csv: missing.csv
            map: {externalId: "x", userName: "a@example.com", displayName: A}
        """,
    )
    found = problems(m, tmp_path / "other.yaml")
    assert any("other.yaml: cannot read" in p for p in found)
    assert any("sources[0]" not in p and "missing.csv" in p for p in found)


def test_several_files_merge_and_sections_are_set_once(tmp_path):
    a = write(
        tmp_path / "a.yaml",
        """
        target: {api_url: "http://127.0.0.1:1"}
        groups: [{name: G}]
        users: [{externalId: A, userName: a@example.com, displayName: A, groups: [G]}]
        """,
    )
    b = write(
        tmp_path / "b.yaml",
        """
        users: [{externalId: B, userName: b@example.com, displayName: B, groups: [G]}]
        """,
    )
    assert set(load_manifest([a, b]).desired.users) == {"A", "B"}
    c = write(tmp_path / "c.yaml", "target: {region: mypurecloud.de}\n")
    (problem,) = problems(a, c)
    assert problem.startswith(f"{c}:1: target: already set in {a}:1")


def test_digest_ignores_formatting(tmp_path):
    one = write(
        tmp_path / "one.yaml",
        """
        target: {api_url: "http://127.0.0.1:1"}
        users: [{externalId: A, userName: a@example.com, displayName: A}]
        """,
    )
    two = write(
        tmp_path / "two.yaml",
        """
        # same meaning, different layout
        target:
          api_url: "http://127.0.0.1:1"
        users:
          - displayName: A
            userName: a@example.com
            externalId: A
        """,
    )
    assert load_manifest(one).digest == load_manifest(two).digest


def test_two_numbers_of_one_phone_type_are_refused_for_genesys_only(tmp_path):
    """Genesys Cloud keeps one number per phone type: the second would be lost and
    proposed again by every plan. Reported once for an export that does it on every
    row; a generic SCIM service may hold several numbers of a type."""
    write(
        tmp_path / "hr.csv",
        "id,mail,desk,cell\n"
        + "".join(f"{i},u{i}@example.com,+1555555010{i},+1555555020{i}\n" for i in range(7)),
    )
    body = """
        users:
          - externalId: Y1
            userName: y1@example.com
            displayName: Y1
            phoneNumbers:
              - {type: work, value: "+15555550100"}
              - {type: mobile, value: "+15555550101"}
              - {type: work, value: "+15555550102"}
        sources:
          - csv: hr.csv
            map:
              externalId: "{{ row.id }}"
              userName: "{{ row.mail }}"
              displayName: "{{ row.id }}"
              phoneNumbers: "{{ row.desk }}, work:{{ row.cell }}, mobile:{{ row.cell }}"
        """
    genesys = write(
        tmp_path / "scimctl.yaml",
        "version: 1\ntarget: {region: mypurecloud.ie}\n" + textwrap.dedent(body),
    )
    csv = tmp_path / "hr.csv"
    assert problems(genesys) == [
        f"{genesys}:5: phoneNumbers: more than one number of type 'work' (8 users; also at "
        f"{csv}: row 2, {csv}: row 3, {csv}: row 4, {csv}: row 5, ...): Genesys Cloud keeps one "
        "number per phone type, so the others would be lost and proposed again by every plan; "
        "keep one, or give each its own type (work2, work3, work4, mobile, home, ...)"
    ]
    scim = write(
        tmp_path / "scimctl.yaml",
        "version: 1\ntarget: {provider: scim, base_url: 'https://scim.example.com/v2'}\n"
        + textwrap.dedent(body),
    )
    phones = load_manifest(scim).desired.users["Y1"].attrs["phoneNumbers"]
    assert phones == [
        ["mobile", "+15555550101"],
        ["work", "+15555550100"],
        ["work", "+15555550102"],
    ]
