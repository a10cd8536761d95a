"""HR CSV exports mapped to users through sandboxed jinja2 expressions.

Each ``map`` value is a template rendered once per row with ``row`` bound to the
CSV record. The sandbox and strict undefined mean a template can neither reach
into Python nor silently produce an empty value for a misspelt column: a missing
column is an error naming the CSV row.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from scimctl.manifest.models import SourceModel, UserModel
from scimctl.model import Location
from scimctl.problems import Problem, error_message, field_path

LIST_FIELDS = ("roles", "groups")
TRUE = {"true", "yes", "y", "1", "active"}
FALSE = {"false", "no", "n", "0", "inactive", ""}

_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


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
        phones = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            kind, _, value = part.rpartition(":") if ":" in part else ("work", "", part)
            phones.append({"type": kind or "work", "value": value})
        return phones
    return text or None


def read_source(
    source: SourceModel, base: Path, where: str
) -> tuple[list[tuple[UserModel, Location]], list[Problem]]:
    """Render every row of one CSV source; return valid users and all problems."""
    problems: list[Problem] = []
    templates = {}
    for field, expr in source.map.items():
        if field not in UserModel.model_fields:
            problems.append(Problem(where, f"map.{field}", "is not a user attribute"))
            continue
        try:
            templates[field] = _env.from_string(expr)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(Problem(where, f"map.{field}", f"template error: {exc.message}"))
    path = base / source.csv
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        problems.append(Problem(where, "csv", f"cannot read {path}: {exc.strerror}"))
        return [], problems
    users: list[tuple[UserModel, Location]] = []
    with handle:
        reader = csv.DictReader(handle, delimiter=source.delimiter)
        for number, record in enumerate(reader, start=2):  # row 1 is the header
            loc = Location(str(path), row=number)
            row = {k: (v or "") for k, v in record.items() if k is not None}
            values: dict[str, Any] = {}
            row_problems = []
            for field, template in templates.items():
                try:
                    values[field] = _convert(field, template.render(row=row))
                except jinja2.UndefinedError as exc:
                    row_problems.append(Problem(str(loc), field, f"template error: {exc.message}"))
                except jinja2.TemplateError as exc:
                    row_problems.append(Problem(str(loc), field, f"template error: {exc}"))
            values = {k: v for k, v in values.items() if v is not None}
            if not row_problems:
                try:
                    users.append((UserModel.model_validate(values), loc))
                except ValidationError as exc:
                    row_problems.extend(
                        Problem(str(loc), field_path(e["loc"]), error_message(e))
                        for e in exc.errors()
                    )
            problems.extend(row_problems)
    return users, problems
