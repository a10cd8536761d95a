"""HR input as it really comes: encodings, delimiters, broken rows, hostile manifests.

Every case must end in located problems (file, line or row, field), never a
traceback and never a hang; a problem repeated on many rows is one line.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from scimctl.errors import InputError
from scimctl.manifest import load_manifest

HEAD = 'target: {api_url: "http://127.0.0.1:1"}\n'
MAP = """\
sources:
  - csv: hr.csv
{extra}    map:
      externalId: "{{{{ row['Employee ID'] }}}}"
      userName: "{{{{ row['Work Email'] | lower }}}}"
      displayName: "{{{{ row.Name }}}}"
"""


def manifest(tmp_path: Path, extra: str = "", body: str | None = None) -> Path:
    path = tmp_path / "m.yaml"
    text = HEAD + (body if body is not None else MAP.format(extra=extra))
    path.write_text(text, encoding="utf-8")
    return path


def csv_bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "hr.csv"
    path.write_bytes(data)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_manifest(path)
    return [str(p) for p in info.value.problems]


ROWS = [("1", "Ann.Lee@Example.com", "Ann Lée"), ("2", "bo@example.com", "Bø Ørsted")]


def export(delimiter: str = ",", newline: str = "\r\n") -> str:
    lines = [delimiter.join(["Employee ID", "Work Email", "Name"])]
    lines += [delimiter.join(r) for r in ROWS]
    return newline.join(lines) + newline


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        (None, codecs.BOM_UTF8 + export().encode("utf-8")),
        (None, export().encode("utf-8")),
        ("cp1252", export().encode("cp1252")),
        ("utf-16", export().encode("utf-16")),
        ("utf-16-le", export().encode("utf-16-le")),
    ],
)
def test_encodings_as_exported(tmp_path, encoding, data):
    csv_bytes(tmp_path, data)
    extra = f"    encoding: {encoding}\n" if encoding else ""
    desired = load_manifest(manifest(tmp_path, extra)).desired
    assert desired.users["1"].attrs["displayName"] == "Ann Lée"
    assert desired.users["1"].attrs["userName"] == "ann.lee@example.com"
    assert desired.users["2"].attrs["displayName"] == "Bø Ørsted"


def test_wrong_encoding_names_file_and_byte_offset(tmp_path):
    path = csv_bytes(tmp_path, export().encode("cp1252"))
    found = problems(manifest(tmp_path))
    offset = export().encode("cp1252").index("é".encode("cp1252"))
    assert found == [
        f"{path}: encoding: byte offset {offset} (line 2) is not valid utf-8: b'\\xe9' "
        "(Excel on Windows exports cp1252: set encoding: cp1252)"
    ]


def test_undeclared_utf16_is_named(tmp_path):
    csv_bytes(tmp_path, export().encode("utf-16"))
    (found,) = problems(manifest(tmp_path))
    assert "UTF-16 byte-order mark; set encoding: utf-16" in found


@pytest.mark.parametrize(
    ("delimiter", "yaml_value"), [("\t", '"\\t"'), ("\t", "tab"), (";", '";"'), ("|", '"|"')]
)
def test_tab_and_semicolon_delimiters(tmp_path, delimiter, yaml_value):
    csv_bytes(tmp_path, export(delimiter).encode())
    desired = load_manifest(manifest(tmp_path, f"    delimiter: {yaml_value}\n")).desired
    assert sorted(desired.users) == ["1", "2"]


def test_wrong_delimiter_is_one_hint(tmp_path):
    csv_bytes(tmp_path, export("\t").encode())
    (found,) = problems(manifest(tmp_path))
    assert "the header has one column but contains '\\t'; set delimiter: '\\t'" in found


def test_renamed_column_is_one_error_listing_the_headers(tmp_path):
    rows = "\n".join(f"{i},u{i}@example.com,U{i}" for i in range(300))
    rows += "\n300,broken,B"  # the other fields are still checked
    path = csv_bytes(tmp_path, f"Employee ID,Email,Name\n{rows}\n".encode())
    assert problems(manifest(tmp_path)) == [
        f"{path}: row 1: column 'Work Email' (used by userName) is not in the header; "
        "the columns are: 'Employee ID', 'Email', 'Name'"
    ]
    path = csv_bytes(tmp_path, f"Employee ID,Work Email,Nom\n{rows}\n".encode())
    assert problems(manifest(tmp_path)) == [
        f"{path}: row 1: column 'Name' (used by displayName) is not in the header; "
        "the columns are: 'Employee ID', 'Work Email', 'Nom'",
        f"{path}: row 302: userName: 'broken' is not a valid email address",
    ]


def test_wrong_field_counts_and_cut_off_file(tmp_path):
    data = export() + "3,c@example.com\r\n4,d@example.com,D,extra\r\n5,e@exam"
    path = csv_bytes(tmp_path, data.encode())
    assert problems(manifest(tmp_path)) == [
        f"{path}: row 4: has 2 fields; the header has 3",
        f"{path}: row 5: has 4 fields; the header has 3",
        f"{path}: row 6: has 2 of 3 fields and the file ends mid-row: the export looks cut off",
    ]


def test_cut_off_inside_quotes(tmp_path):
    path = csv_bytes(tmp_path, (export() + '3,c@example.com,"Cut').encode())
    (found,) = problems(manifest(tmp_path))
    assert found.startswith(f"{path}: row 4: not valid CSV")
    assert "cut off" in found


def test_field_and_file_size_limits(tmp_path, monkeypatch):
    path = csv_bytes(tmp_path, (export() + f"3,c@example.com,{'x' * 70_000}\r\n").encode())
    assert problems(manifest(tmp_path)) == [
        f"{path}: row 4: a field is longer than 65,536 characters"
    ]
    path = csv_bytes(tmp_path, (export() + f"3,c@example.com,{'x' * 200_000}\r\n").encode())
    (found,) = problems(manifest(tmp_path))
    assert found.startswith(f"{path}: row 4: not valid CSV: a field is longer than")
    monkeypatch.setattr("scimctl.manifest.sources.MAX_BYTES", 100)
    (found,) = problems(manifest(tmp_path))
    assert "bytes; the limit is 100" in found


def test_special_files_and_nul_paths_are_refused(tmp_path):
    body = """\
sources:
  - csv: /dev/zero
    map: {externalId: "x", userName: "x@example.com", displayName: "x"}
  - csv: "a\\0b"
    map: {externalId: "y", userName: "y@example.com", displayName: "y"}
"""
    m = manifest(tmp_path, body=body)
    assert problems(m) == [
        f"{m}:3: csv: /dev/zero is not a regular file",
        f"{m}:5: csv: the path contains a NUL byte",
    ]
    assert problems(Path("/dev/zero")) == ["/dev/zero: not a regular file; refusing to read it"]
    assert problems(Path("a\0b.yaml")) == ["a\\0b.yaml: the path contains a NUL byte"]


def test_same_error_on_many_rows_is_one_line_and_cross_row_checks_still_run(tmp_path):
    lines = ["Employee ID,Work Email,Name,Phone"]
    lines += [f"{i},u{i}@example.com,U{i},(212) 555-01{i:02d}" for i in range(2, 90)]
    lines.append("99,u2@example.com,Dup,+12125550100")  # a duplicate email, row 90
    path = csv_bytes(tmp_path, ("\n".join(lines) + "\n").encode())
    m = manifest(tmp_path, "", MAP.format(extra="") + '      phoneNumbers: "{{ row.Phone }}"\n')
    assert problems(m) == [
        f"{path}: row 2: phoneNumbers[0].value: 88 rows: is not an E.164 number such as "
        "+15555550100 or tel:+15555550100;ext=12, rows 2, 3, 4, 5, 6, ...; "
        "e.g. '(212) 555-0102'; use the phone filter, e.g. {{ row.phone | phone('US') }}",
        f"{path}: row 90: userName: 'u2@example.com' is also used at {path}: row 2",
    ]


def test_deep_group_chain_is_reported_once(tmp_path):
    groups = "".join(
        f"  - name: G{i}\n" + (f"    parent: G{i - 1}\n" if i else "") for i in range(2000)
    )
    m = manifest(tmp_path, body=f"groups:\n{groups}")
    (found,) = problems(m)
    assert "group 'G1999' is 2,000 levels deep (G1999 < G1998" in found
    assert "... 1990 more ..." in found
    assert len(found) < 500


def test_yaml_problems_are_located(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text(
        HEAD
        + "users:\n  - externalId: A\n    userName: a@example.com\n"
        + "    displayName: A\n    displayName: B\n    ? [x]\n    : y\n"
        + "policy: {}\npolicy: {}\n"
    )
    assert problems(m) == [
        f"{m}:6: duplicate key 'displayName': also on line 5; "
        "the second would silently replace the first",
        f"{m}:7: a key must be a plain value, not a list or map",
        f"{m}:10: duplicate key 'policy': also on line 9; "
        "the second would silently replace the first",
    ]
    m.write_text(HEAD + "users: [\n")
    assert problems(m) == [
        f"{m}:3: not valid YAML at column 1: expected the node content, but found '<stream end>'"
    ]
    m.write_text(HEAD + "a: \x01\n")
    assert problems(m) == [f"{m}:2: not valid YAML at column 4: character U+0001 is not allowed"]
    m.write_bytes(HEAD.encode() + b"users: \xff\n")
    assert problems(m) == [
        f"{m}:2: not UTF-8: byte offset 47 is b'\\xff'; save the manifest as UTF-8"
    ]
    m.write_text(HEAD + "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problems(m) == [f"{m}:2: not valid YAML at column 67: nested deeper than 64 levels"]
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
    )
    m.write_text(HEAD + bomb)
    assert problems(m) == [
        f"{m}:1: not valid YAML at column 1: aliases expand to more than 1,000,000 values"
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 1/0 }}", "template error: ZeroDivisionError: division by zero"),
        ("{{ row.Name|truncate(-1) }}", "template error: AssertionError"),
        ("{{ 'a' * 10**9 }}", "repetition would build 1,000,000,000 items"),
        ("{{ range(10**9)|list }}", "range() would build 1,000,000,000 items"),
        (
            "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
            "template took longer than 0.5 s to render; stopped",
        ),
        (
            "{% for i in range(9999) %}{% for j in range(9999) %}ab{% endfor %}{% endfor %}",
            "template output is over the limit of 65,536 characters",
        ),
        ("{{ 'x'.center(10**8) }}", "str.center would build 100,000,000 items"),
        ("{{ '%0999999999d' % 1 }}", "format width is too large"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep"),
    ],
)
def test_template_failures_are_located_and_bounded(tmp_path, template, message):
    csv_bytes(tmp_path, export().encode())
    body = MAP.format(extra="").replace("{{ row.Name }}", template.replace('"', '\\"'))
    found = problems(manifest(tmp_path, body=body))
    assert len(found) == 1, found
    assert found[0].startswith(f"{tmp_path / 'hr.csv'}: row 2: displayName: ")
    assert message in found[0]
    # the same failure on both rows is one line; a timeout stops after the first row
    assert "2 rows: " in found[0] or "not rendered for the rows after this one" in found[0]


def test_when_rule_skips_rows_and_phone_filter_normalises(tmp_path):
    csv_bytes(
        tmp_path,
        (
            b"Employee ID,Work Email,Name,Status,Phone\r\n"
            b"1,a@example.com,A,Active,(212) 555-0101 x214\r\n"
            b"2,b@example.com,B,Terminated,not a phone\r\n"
            b"3,c@example.com,C,On Leave,+44 20 7946 0958\r\n"
            b"4,d@example.com,D,Active,\r\n"
        ),
    )
    extra = "    when: \"{{ row.Status != 'Terminated' }}\"\n"
    body = MAP.format(extra=extra) + "      phoneNumbers: \"{{ row.Phone | phone('US') }}\"\n"
    desired = load_manifest(manifest(tmp_path, body=body)).desired
    assert sorted(desired.users) == ["1", "3", "4"]
    assert desired.users["1"].attrs["phoneNumbers"] == [["work", "tel:+12125550101;ext=214"]]
    assert desired.users["3"].attrs["phoneNumbers"] == [["work", "+442079460958"]]
    assert desired.users["4"].attrs["phoneNumbers"] == []  # an empty column manages "none"


def test_unparseable_phone_and_bad_when_are_located(tmp_path):
    path = csv_bytes(
        tmp_path,
        b"Employee ID,Work Email,Name,Phone\n1,a@example.com,A,(555) 010-1234\n"
        b"2,b@example.com,B,+12125550101\n",
    )
    body = (
        MAP.format(extra="    when: \"{{ row.Name == 'B' and 'maybe' or 'yes' }}\"\n")
        + "      phoneNumbers: \"{{ row.Phone | phone('US') }}\"\n"
    )
    assert problems(manifest(tmp_path, body=body)) == [
        f"{path}: row 2: phoneNumbers: '(555) 010-1234' is not a valid phone number for region US",
        f"{path}: row 3: when: must render true or false ('maybe')",
    ]


ROW = {"Name": "Ann", "items": "a column named items", "keys": "k", "email": " A@B.com \n"}


@pytest.mark.parametrize(
    "source",
    [
        "Support",
        "Employee, Agent",
        "trailing newline\n",
        "two\n\n",
        "",
        "  spaced  ",
        "{{ row.Name }}",
        "{{row.Name}}",
        "{{ row.email }}",
        "{{ row.items }}",  # the dict's method, not the column
        "{{ row.keys }}",
        "{{ row.Name }} ",
        "{{ row.Name }}{{ row.Name }}",
        "{{ row.Name|lower }}",
        "{# comment #}x",
        "{% raw %}{{ row.Name }}{% endraw %}",
    ],
)
def test_row_templates_render_as_jinja2_does(source):
    from scimctl.manifest.templates import RowTemplate, compile_template, render

    expected = render(compile_template(source), row=ROW)
    assert RowTemplate(source)(ROW) == expected


def test_the_same_bad_phone_and_bad_column_value_are_reported_on_every_row(tmp_path):
    path = csv_bytes(
        tmp_path,
        b"Employee ID,Work Email,Name,Phone\n"
        b"1,a@example.com,A\x1b,(555) 010-1234\n"
        b"2,b@example.com,B,(555) 010-1234\n"
        b"3,c@example.com,C\x1b,(555) 010-1234\n"
        b"4,d@example.com,D,+12125550101\n",
    )
    body = MAP.format(extra="") + "      phoneNumbers: \"{{ row.Phone | phone('US') }}\"\n"
    assert problems(manifest(tmp_path, body=body)) == [
        f"{path}: row 2: displayName: 2 rows: contains a control character U+001B (escape) "
        "at position 2; remove it, rows 2, 4",
        f"{path}: row 2: phoneNumbers: 3 rows: is not a valid phone number for region US, "
        "rows 2, 3, 4; e.g. '(555) 010-1234'",
    ]


def test_a_callers_alarm_is_kept_through_a_source(tmp_path):
    """Renders are bounded by a ticking SIGALRM while a source is read; the caller's
    own handler and pending timer are back afterwards, not the tick."""
    import signal

    def mine(signum, frame):
        raise AssertionError("the caller's alarm fired during the test")

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        signal.setitimer(signal.ITIMER_REAL, 60)
        csv_bytes(tmp_path, export().encode())
        assert sorted(load_manifest(manifest(tmp_path)).desired.users) == ["1", "2"]
        remaining, interval = signal.getitimer(signal.ITIMER_REAL)
        assert signal.getsignal(signal.SIGALRM) is mine
        assert 50 < remaining <= 60 and interval == 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
