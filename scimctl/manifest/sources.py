"""HR CSV exports mapped to users through sandboxed jinja2 expressions.

Each ``map`` value is a template rendered once per row with ``row`` bound to the
CSV record (``row.email`` or ``row["Employee ID"]`` for headers with spaces). A
source may set ``when`` (rows where it renders false are not desired),
``encoding`` and ``delimiter``.

Real exports are messy, and one mistake usually repeats on every row, so this
module reports each *distinct* problem once:

* the file is checked as bytes first (regular file, size, encoding with the byte
  offset of the first bad byte);
* the header is checked once: a column the templates use but the header lacks is
  one error naming it and listing the headers present, and then no row is rendered;
* rows with the wrong number of fields, and a file cut off mid-row, are errors with
  their row number;
* the same problem on many rows becomes one line with the count and the first rows.

Rows that fail validation still take part in the checks across records (duplicate
userName or externalId), so every problem is reported in one run.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import nodes
from pydantic import ValidationError

from scimctl.errors import Problem, error_message, field_path
from scimctl.manifest.models import ENCODINGS, PHONE_TYPES, SourceModel, UserModel
from scimctl.manifest.templates import (
    RowTemplate,
    TemplateFailure,
    TemplateTimeout,
    render_scope,
)
from scimctl.model import Location
from scimctl.text import count

LIST_FIELDS = ("roles", "groups", "previousExternalIds")
TRUE = {"true", "yes", "y", "1", "active"}
FALSE = {"false", "no", "n", "0", "inactive", ""}
MAX_BYTES = 64 * 1024 * 1024  # a CSV export larger than this is refused, not read
MAX_FIELD = 65_536  # characters in one CSV field
EXAMPLE_ROWS = 5
SOURCE_SECONDS = 60  # all rows of one source; bounded even for a huge, slow export
HINTS = {
    "phoneNumbers": "; use the phone filter, e.g. {{ row.phone | phone('US') }}",
}


def _convert(field: str, text: str) -> Any:
    """Templates render text; turn it into the type the field wants."""
    text = text.strip()
    if field in LIST_FIELDS:
        return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if field == "active":
        low = text.lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        return text  # let pydantic report it
    if field == "phoneNumbers":
        return _phones(text)
    if field in ("routingSkills", "routingLanguages"):
        return _proficiencies(text)
    return text or None


def _phones(text: str) -> list[dict[str, str]]:
    """``work:+1555..., mobile:tel:+1...;ext=1`` -> phone entries; no prefix is work."""
    phones = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        kind, sep, value = part.partition(":")
        if sep and kind.strip() in PHONE_TYPES:
            phones.append({"type": kind.strip(), "value": value.strip()})
        else:
            phones.append({"type": "work", "value": part})
    return phones


def _proficiencies(text: str) -> list[dict[str, Any]]:
    """``Billing:4, Spanish:3.5`` -> ``[{name, proficiency}]``; no level means 0."""
    out: list[dict[str, Any]] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",") if p.strip()):
        name, sep, level = part.rpartition(":")
        if sep:
            out.append({"name": name.strip(), "proficiency": level.strip()})
        else:
            out.append({"name": part, "proficiency": 0})
    return out


@dataclass
class _RowProblems:
    """Problems collected per (field, message), with the rows they occur on."""

    path: str
    found: dict[tuple[str, str], list[tuple[int, str, str]]] = field(default_factory=dict)

    def add(self, row: int, field: str, message: str, example: str = "", full: str = "") -> None:
        """``message`` is the same on every row; ``full`` is this row's own wording."""
        self.found.setdefault((field, message), []).append((row, example, full))

    def problems(self) -> list[Problem]:
        out = []
        for (fld, message), rows in self.found.items():
            first, example, full = rows[0]
            where = f"{self.path}: row {first}"
            if len(rows) == 1:
                detail = f" ({example})" if example else ""
                out.append(Problem(where, fld, full or f"{message}{detail}"))
                continue
            shown = ", ".join(str(r) for r, _, _ in rows[:EXAMPLE_ROWS])
            more = ", ..." if len(rows) > EXAMPLE_ROWS else ""
            eg = f"; e.g. {example}" if example else ""
            hint = HINTS.get(fld.split("[")[0], "") if "E.164" in message else ""
            out.append(
                Problem(
                    where,
                    fld,
                    f"{count(len(rows), 'row')}: {message}, rows {shown}{more}{eg}{hint}",
                )
            )
        return out


@functools.lru_cache(maxsize=512)
def columns_used(source: str) -> frozenset[str]:
    """Columns a template reads as ``row.name`` or ``row["name"]`` (static uses only)."""
    from scimctl.manifest.templates import _env

    try:
        ast = _env.parse(source)
    except Exception:
        return frozenset()
    used = set()
    called = {id(call.node) for call in ast.find_all(nodes.Call)}  # row.get(...) is a method
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if not (isinstance(target, nodes.Name) and target.name == "row"):
            continue
        if isinstance(node, nodes.Getattr):
            if id(node) not in called and not node.attr.startswith("_"):
                used.add(node.attr)
        elif isinstance(arg := getattr(node, "arg", None), nodes.Const) and isinstance(
            arg.value, str
        ):
            used.add(arg.value)
    return frozenset(used)


def read_source(
    source: SourceModel, base: Path, where: str
) -> tuple[list[tuple[UserModel, Location]], list[Problem]]:
    """Render every row of one CSV source; return users (some partial) and all problems.

    When problems are returned the users list may hold *partial* users (rows that
    failed validation, built from their valid fields) so that duplicate checks
    across records still see them; such a result is never turned into desired state.
    """
    problems: list[Problem] = []
    templates: dict[str, RowTemplate] = {}
    used: dict[str, frozenset[str]] = {}
    exprs = dict(source.map)
    if source.when is not None:
        exprs["when"] = source.when
    for fld, expr in exprs.items():
        if fld != "when" and fld not in UserModel.model_fields:
            problems.append(Problem(where, f"map.{fld}", "is not a user attribute"))
            continue
        name = "when" if fld == "when" else f"map.{fld}"
        try:
            templates[fld] = RowTemplate(expr)
        except TemplateFailure as exc:
            problems.append(Problem(where, name, str(exc)))
            continue
        used[fld] = columns_used(expr)
    if "\0" in source.csv:
        problems.append(Problem(where, "csv", "the path contains a NUL byte"))
        return [], problems
    path = base / source.csv
    text = _read_text(path, source.encoding, where, problems)
    if text is None:
        return [], problems
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=source.delimiter, strict=True)
    rows = _RowProblems(str(path))
    header: list[str] | None = None
    users: list[tuple[UserModel, Location]] = []
    skip_render = False
    number = 0
    deadline = time.monotonic() + SOURCE_SECONDS
    short: tuple[int, int] | None = None  # the last row with too few fields
    with render_scope():  # one SIGALRM handler for all rows, not one per field
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                # The csv module cannot resynchronise after a quoting error: stop here.
                cut = (
                    " (the export looks cut off inside a quoted field)"
                    if "end of data" in str(exc)
                    else ""
                )
                reason = str(exc)
                if "field limit" in reason:
                    reason = f"a field is longer than {csv.field_size_limit():,} characters"
                problems.append(
                    Problem(f"{path}: row {number + 1}", "", f"not valid CSV: {reason}{cut}")
                )
                break
            number += 1
            if short is not None:  # a short row that was not the last one
                rows.add(
                    short[0],
                    "",
                    f"has {count(short[1], 'field')}; the header has {len(header or []):,}",
                )
                short = None
            if header is None:
                header = [h.strip() for h in record]
                missing = _check_header(header, used, path, where, source, problems)
                if missing is None:
                    skip_render = True
                for fld in missing or ():
                    templates[fld] = None  # type: ignore[assignment]  # reported once, above
                continue
            if not record or record == [""]:
                continue  # blank line
            loc = Location(str(path), row=number)
            if any(len(v) > MAX_FIELD for v in record):
                rows.add(number, "", f"a field is longer than {MAX_FIELD:,} characters")
                continue
            if len(record) < len(header):
                short = (number, len(record))
                continue
            if len(record) > len(header):
                rows.add(
                    number, "", f"has {count(len(record), 'field')}; the header has {len(header):,}"
                )
                continue
            if skip_render:
                continue
            if time.monotonic() > deadline:
                problems.append(
                    Problem(
                        str(loc),
                        "",
                        f"rendering this source took over {SOURCE_SECONDS} s; stopped at this row",
                    )
                )
                break
            row = dict(zip(header, record, strict=True))
            user = _render_row(row, number, templates, rows)
            if user is not None:
                users.append((user, loc))
    if short is not None and header is not None:
        if text.endswith(("\n", "\r")):
            rows.add(
                short[0], "", f"has {count(short[1], 'field')}; the header has {len(header):,}"
            )
        else:
            problems.append(
                Problem(
                    f"{path}: row {short[0]}",
                    "",
                    f"has {short[1]:,} of {count(len(header), 'field')} and the file ends mid-row: "
                    "the export looks cut off",
                )
            )
    if header is None:
        problems.append(Problem(f"{path}: row 1", "", "the file is empty; expected a header row"))
    problems.extend(rows.problems())
    return users, problems


def _check_header(
    header: list[str],
    used: dict[str, frozenset[str]],
    path: Path,
    where: str,
    source: SourceModel,
    problems: list[Problem],
) -> set[str] | None:
    """Report header problems once; return the fields whose templates cannot render.

    None means no row can be read meaningfully (the delimiter is wrong).
    """
    present = ", ".join(repr(h) for h in header)
    if len(header) == 1 and any(d in header[0] for d in ",;\t|" if d != source.delimiter):
        found = next(d for d in ",;\t|" if d in header[0])
        problems.append(
            Problem(
                f"{path}: row 1",
                "delimiter",
                f"the header has one column but contains {found!r}; "
                f"set delimiter: {found!r} on the source at {where}",
            )
        )
        return None
    seen: set[str] = set()
    for h in header:
        if h in seen and h:  # unnamed trailing columns are common in exports
            problems.append(Problem(f"{path}: row 1", "", f"column {h!r} appears twice"))
        seen.add(h)
    missing: dict[str, list[str]] = {}
    for fld, columns in used.items():
        for col in columns:
            if col not in seen:
                missing.setdefault(col, []).append(fld)
    for col, fields in sorted(missing.items()):
        problems.append(
            Problem(
                f"{path}: row 1",
                "",
                f"column {col!r} (used by {', '.join(fields)}) is not in the header; "
                f"the columns are: {present}",
            )
        )
    return {fld for fields in missing.values() for fld in fields}


def _render_row(
    row: dict[str, str],
    number: int,
    templates: dict[str, RowTemplate],
    rows: _RowProblems,
) -> UserModel | None:
    if "when" in templates:
        if templates["when"] is None:
            return None
        try:
            verdict = templates["when"](row).strip().lower()
        except TemplateFailure as exc:
            rows.add(number, "when", _stopped(exc, templates, "when"))
            return None
        if verdict in FALSE or verdict == "none":
            return None
        if verdict not in TRUE:
            rows.add(number, "when", "must render true or false", repr(verdict[:40]))
            return None
    values: dict[str, Any] = {}
    failed: set[str] = set()
    for fld, template in list(templates.items()):
        if fld == "when":
            continue
        if template is None:  # stopped after it timed out on an earlier row
            failed.add(fld)
            continue
        try:
            values[fld] = _convert(fld, template(row))
        except TemplateFailure as exc:
            failed.add(fld)
            value, _, rest = str(exc).partition(" is not ")
            if rest and value.startswith("'"):
                rows.add(number, fld, f"is not {rest}", value, str(exc))
            else:
                rows.add(number, fld, _stopped(exc, templates, fld))
    values = {k: v for k, v in values.items() if v is not None}
    try:
        user = UserModel.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors():
            if e["loc"] and e["loc"][0] in failed and e["type"] == "missing":
                continue  # its template failed, which is already reported
            failed.add(str(e["loc"][0]) if e["loc"] else "")
            full = message = error_message(e)
            example = ""
            shown = repr(e.get("input")) if isinstance(e.get("input"), str) else None
            if shown and shown in message:
                message = message.replace(shown, "the value").replace("the value is", "is")
                example = shown
            rows.add(number, field_path(e["loc"]), message, example, full)
        return _partial(values, failed)
    return user  # with problems reported, it only serves the checks across records


def _stopped(exc: TemplateFailure, templates: dict[str, RowTemplate], fld: str) -> str:
    """A template that timed out once is not rendered again: rows x timeout is a hang."""
    if isinstance(exc, TemplateTimeout):
        templates[fld] = None  # type: ignore[assignment]
        return f"{exc}; not rendered for the rows after this one"
    return str(exc)


def _partial(values: dict[str, Any], failed: set[str]) -> UserModel | None:
    """A user built from a failed row's valid fields, for checks across records only."""
    keep = {k: v for k, v in values.items() if k not in failed}
    if not isinstance(keep.get("externalId"), str) and not isinstance(keep.get("userName"), str):
        return None
    keep.setdefault("externalId", None)
    keep.setdefault("userName", None)
    return UserModel.model_construct(**keep)


def _read_text(path: Path, encoding: str, where: str, problems: list[Problem]) -> str | None:
    """The file's text, or None with a located problem: never reads a special file."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        problems.append(Problem(where, "csv", f"cannot read {path}: {reason}"))
        return None
    if not stat.S_ISREG(info.st_mode):
        problems.append(Problem(where, "csv", f"{path} is not a regular file"))
        return None
    if info.st_size > MAX_BYTES:
        problems.append(
            Problem(where, "csv", f"{path} is {info.st_size:,} bytes; the limit is {MAX_BYTES:,}")
        )
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        problems.append(Problem(where, "csv", f"cannot read {path}: {exc.strerror}"))
        return None
    if len(data) > MAX_BYTES:
        problems.append(Problem(where, "csv", f"{path} is larger than {MAX_BYTES:,} bytes"))
        return None
    codec = ENCODINGS[encoding]
    if codec == "utf-8-sig" and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        problems.append(
            Problem(
                where,
                "encoding",
                f"{path} starts with a UTF-16 byte-order mark; set encoding: utf-16",
            )
        )
        return None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        hint = (
            " (Excel on Windows exports cp1252: set encoding: cp1252)" if codec != "cp1252" else ""
        )
        problems.append(
            Problem(
                str(path),
                "encoding",
                f"byte offset {exc.start} (line {row}) is not valid {encoding}: "
                f"{data[exc.start : exc.start + 1]!r}{hint}",
            )
        )
        return None
    if "\0" in text:
        offset = text.index("\0")
        problems.append(
            Problem(
                str(path),
                "encoding",
                f"character {offset} is a NUL; the file is binary or not {encoding} "
                "(a UTF-16 export needs encoding: utf-16)",
            )
        )
        return None
    return text
