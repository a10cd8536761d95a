"""Seeded corpus fuzzing of manifests and CSV exports, in-process.

Each case starts from a valid manifest and export and applies a few random
mutations, textual and byte-level, drawn from what real exports and hostile pull
requests contain. ``load_manifest`` must then either succeed or raise
``InputError`` whose every problem names a file that the case wrote and a line,
row or field. Anything else (a traceback, an "internal error", an unlocated
problem) fails the test with the seed and the input, so it can be replayed.
A case that runs over 10 s kills the run with a stack dump (faulthandler).
"""

from __future__ import annotations

import codecs
import faulthandler
import os
import random
import re
from pathlib import Path

from scimctl.errors import InputError, ScimctlError
from scimctl.manifest import load_manifest

SEED = int(os.environ.get("SCIMCTL_FUZZ_SEED", "20261127"))
CASES = int(os.environ.get("SCIMCTL_FUZZ_CASES", "1000"))
HANG_SECONDS = 10

MANIFEST = """\
version: 1
target: {api_url: "http://127.0.0.1:1"}
defaults: {division: Home, active: true, roles: [Employee]}
policy:
  max_group_depth: 3
  deprovision: deactivate
groups:
  - name: Support
  - name: Tier1
    parent: Support
users:
  - externalId: "Y1"
    userName: y1@example.com
    displayName: Yaml One
    phoneNumbers: [{type: work, value: "+12125550101"}]
    groups: [Tier1]
    dateHire: 2024-02-01
    routingSkills: [{name: Billing, proficiency: 3}]
sources:
  - csv: hr.csv
    encoding: ENCODING
    delimiter: "DELIM"
    when: "{{ row.Status != 'Terminated' }}"
    map:
      externalId: "{{ row['Employee ID'] }}"
      userName: "{{ row['Work Email'] | lower }}"
      displayName: "{{ row.First }} {{ row.Last }}"
      phoneNumbers: "{{ row.Phone | phone('US') }}"
      active: "{{ row.Status != 'On Leave' }}"
      groups: "{{ row.Team }}"
"""

HEADER = ["Employee ID", "Work Email", "First", "Last", "Phone", "Status", "Team"]
NAMES = ["Ann", "Bø", "José", "Zoë", "Łukasz", "O'Neil", 'Quo"te', "李", "Ærø"]
PHONES = ["(212) 555-0101", "212.555.0199 x12", "+44 20 7946 0958", "", "(555) 010-1234", "n/a"]
STATUS = ["Active", "Terminated", "On Leave", "active", ""]

HOSTILE_TEMPLATES = [
    "{{ 1/0 }}",
    "{{ row.First|truncate(-1) }}",
    "{{ 'a' * 10**9 }}",
    "{{ range(10**9)|list }}",
    "{{ (range(5000)|list) * 5000 }}",
    "{{ 'x'.center(10**9) }}",
    "{{ 'x'.ljust(10**8) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ ('a'*50000).replace('', 'b'*50000) }}",
    "{{ ','.join('a' * 99999) }}",
    "{{ 9**9**9 }}",
    "{{ row.__class__.__mro__ }}",
    "{{ row.nope }}",
    "{{ row['No Such Column'] }}",
    "{{ undefined_name }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{{ row.First|int(10**10) }}",
    "{{ row|dictsort|first }}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{{ row.Phone|phone('ZZ') }}",
    "{{ row.Phone|phone(none) }}",
    "{{ ",
    "{% if %}",
    "{{ row.First " + "(" * 300 + " }}",
    "{{ lipsum(10**9) }}",
    "{{ cycler(1,2).next() }}",
    "{{ namespace(a=1).a }}",
    "{{ 'abc'|reverse|list * 40000 }}",
    "{{ '\\t' * 50000|string }}",
]
SLOW_TEMPLATES = [
    "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
]
HOSTILE_YAML = [
    "users: []\n",
    "policy: {}\n",
    "  - externalId: Y1\n    userName: y1@example.com\n    displayName: Dup\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n: c\n",
    "a: " + "[" * 200 + "]" * 200 + "\n",
    "a: " + "{b: " * 100 + "1" + "}" * 100 + "\n",
    "x: &a [*a]\n",
    "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
    "bad: !!python/object:os.system ls\n",
    "d: !!binary aGVsbG8=\n",
    "t: 2024-13-45\n",
    "1: one\n",
    "null: x\n",
    "users: {a: 1}\n",
    "users: 5\n",
    "sources: [{csv: /dev/zero, map: {externalId: x}}]\n",
    "sources: [{csv: /dev/null, map: {externalId: x}}]\n",
    "sources: [{csv: .., map: {externalId: x}}]\n",
    'sources: [{csv: "a\\0b", map: {externalId: x}}]\n',
    "sources: [{csv: hr.csv, map: {externalId: x}, delimiter: ''}]\n",
    "sources: [{csv: hr.csv, map: {externalId: x}, encoding: ebcdic}]\n",
    "sources: [{csv: hr.csv, map: {colour: x}}]\n",
    "sources: [{csv: hr.csv, map: [1, 2]}]\n",
    "sources: [{csv: 5, map: {}}]\n",
    "groups: [{name: G0}"
    + "".join(f", {{name: G{i}, parent: G{i - 1}}}" for i in range(1, 300))
    + "]\n",
    "groups: [{name: C1, parent: C2}, {name: C2, parent: C1}]\n",
    "\tbad indent\n",
    "'unterminated\n",
    "key: \x01\n",
    "key: \ufeff\n",
    "%YAML 1.1\n---\na: 1\n---\nb: 2\n",
    "---\n...\n",
    "users:\n  - {externalId: Z, userName: z@example.com, displayName: Z, manager: Y1}\n",
    "users:\n  - {externalId: Z, userName: z@example.com, displayName: Z, dateHire: tomorrow}\n",
    "users:\n  - {externalId: Z, userName: z@example.com, displayName: Z, "
    "routingSkills: [{name: X, proficiency: 9}]}\n",
]
YAML_CHARS = list(":-[]{}&*!|>'\"%@`#,?\t\n ") + ["\x00", "\x85", "\u2028", "é", "\ufeff"]
BYTES = [b"\x00", b"\xff", b"\xfe", b"\xc3", b"\xe9", b"\x80", b"\r", b"\n", b'"', b","]


def _rows(rng: random.Random, n: int, clean: bool) -> list[list[str]]:
    rows = []
    for i in range(n):
        first, last = rng.choice(NAMES), rng.choice(NAMES)
        email = f"u{i}@example.com" if clean or rng.random() < 0.9 else "dup@example.com"
        phones = PHONES[:4] if clean else PHONES
        teams = ["Support", "Tier1", "", "Support;Tier1"] + ([] if clean else ["Nope"])
        rows.append(
            [
                str(1000 + i),
                email,
                first,
                last,
                rng.choice(phones),
                rng.choice(STATUS),
                rng.choice(teams),
            ]
        )
    return rows


def _csv_text(rows: list[list[str]], delim: str, newline: str) -> str:
    def cell(v: str) -> str:
        if any(c in v for c in (delim, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v

    return newline.join(delim.join(cell(v) for v in r) for r in [HEADER, *rows]) + newline


def _mutate_text(rng: random.Random, text: str, pool: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    kind = rng.randrange(6)
    i = rng.randrange(len(lines) + 1)
    if kind == 0:
        lines.insert(i, rng.choice(pool))
    elif kind == 1 and lines:
        lines.insert(i, lines[min(i, len(lines) - 1)])
    elif kind == 2 and lines:
        del lines[min(i, len(lines) - 1)]
    elif kind == 3 and lines:
        line = lines[min(i, len(lines) - 1)]
        j = rng.randrange(len(line) + 1)
        lines[min(i, len(lines) - 1)] = line[:j] + rng.choice(YAML_CHARS) + line[j:]
    elif kind == 4:
        return text[: rng.randrange(len(text) + 1)]
    else:
        lines.insert(i, " " * rng.randrange(8) + rng.choice(pool))
    return "".join(lines)


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    j = rng.randrange(len(data) + 1)
    choice = rng.randrange(3)
    if choice == 0:
        return data[:j] + rng.choice(BYTES) + data[j:]
    if choice == 1:
        return data[:j]
    return data[:j] + data[j + 1 :]


def make_case(rng: random.Random, root: Path) -> Path:
    """Write one mutated manifest and export under ``root``; return the manifest."""
    encoding = rng.choice(["utf-8", "utf-8", "cp1252", "utf-16", "latin-1"])
    delim = rng.choice([",", ",", "\t", ";", "|"])
    newline = rng.choice(["\n", "\r\n"])
    clean = rng.random() < 0.3  # a well-formed export and manifest, to test the valid path
    rows = _rows(rng, rng.randrange(0, 12), clean)
    text = _csv_text(rows, delim, newline)
    for _ in range(0 if clean else rng.randrange(3)):
        r = rng.random()
        if r < 0.2:
            text = text.replace("Work Email", "Email", 1)  # a renamed column
        elif r < 0.4:
            text = text[: rng.randrange(len(text) + 1)]  # cut off
        elif r < 0.5:
            text += "x" * rng.choice([70_000, 140_000]) + newline  # a huge field
        elif r < 0.7:
            text += delim.join(["1"] * rng.randrange(1, 10)) + newline  # wrong field count
        else:
            text = text.replace(delim, rng.choice([",", ";", "\t"]), rng.randrange(1, 4))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    if encoding == "utf-8" and rng.random() < 0.5:
        data = codecs.BOM_UTF8 + data
    if not clean and rng.random() < 0.25:
        data = _mutate_bytes(rng, data)
    (root / "hr.csv").write_bytes(data)

    declared = (
        encoding if clean or rng.random() < 0.85 else rng.choice(["utf-8", "cp1252", "utf-16"])
    )
    shown_delim = {"\t": "\\t"}.get(delim, delim) if clean or rng.random() < 0.9 else ","
    manifest = MANIFEST.replace("ENCODING", declared).replace("DELIM", shown_delim)
    if clean:
        return _write_manifest(root, manifest.encode())
    if rng.random() < 0.3:
        field = rng.choice(["displayName", "userName", "phoneNumbers", "groups", "when"])
        pool = SLOW_TEMPLATES if rng.random() < 0.004 else HOSTILE_TEMPLATES
        hostile = rng.choice(pool).replace('"', '\\"')
        pattern = rf'(\n\s+{field}: )"[^\n]*"'
        manifest = re.sub(pattern, lambda m: f'{m.group(1)}"{hostile}"', manifest, count=1)
    for _ in range(rng.randrange(4)):
        manifest = _mutate_text(rng, manifest, HOSTILE_YAML)
    raw = manifest.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        raw = _mutate_bytes(rng, raw)
    return _write_manifest(root, raw)


def _write_manifest(root: Path, raw: bytes) -> Path:
    path = root / "scimctl.yaml"
    path.write_bytes(raw)
    return path


LOCATED = re.compile(r"(:\d+$|: row \d+$|: line \d+$)")


def _whole_file(message: str) -> bool:
    """Problems about a file as a whole, where the file name is the whole location."""
    return any(
        s in message for s in ("not a regular file", "cannot read", "larger than", "bytes; the")
    )


def check_case(path: Path) -> tuple[str, list[str]]:
    """The outcome of one case and its failures: tracebacks, internal errors, unlocated."""
    root = str(path.parent)
    try:
        load_manifest(path)
    except InputError as exc:
        bad = []
        for p in exc.problems:
            text = str(p)
            if "internal error" in text:
                bad.append(f"internal error: {text}")
            elif not (p.where.startswith(root) or p.where.startswith(("/dev/", ".."))):
                bad.append(f"names no file of the case: {text}")
            elif not (LOCATED.search(p.where) or p.field or _whole_file(p.message)):
                bad.append(f"not located: {text}")
        return "problems", bad
    except ScimctlError:
        return "problems", []
    except BaseException as exc:  # noqa: BLE001 - any traceback is the bug we look for
        return "crash", [f"traceback: {exc.__class__.__name__}: {str(exc)[:300]}"]
    return "valid", []


def test_fuzzed_manifests_and_exports_never_crash(tmp_path):
    rng = random.Random(SEED)
    failures: list[str] = []
    outcomes = {"valid": 0, "problems": 0}
    for case in range(CASES):
        root = tmp_path / f"c{case % 8}"
        root.mkdir(exist_ok=True)
        path = make_case(rng, root)
        faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
        try:
            outcome, bad = check_case(path)
        finally:
            faulthandler.cancel_dump_traceback_later()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if bad:
            shown = path.read_bytes()[:2000]
            failures.append(f"case {case} (seed {SEED}): {bad[:3]}\n  manifest: {shown!r}")
    assert not failures, f"{len(failures)} of {CASES} cases failed:\n" + "\n".join(failures[:10])
    # The corpus must exercise both outcomes, or it tests nothing.
    assert outcomes["valid"] > CASES // 50, outcomes
    assert outcomes["problems"] > CASES // 2, outcomes
