"""``policy.rules`` and ``policy.exceptions``: from validated models to plain values.

The models check each entry's shape; this checks what needs the whole list (ids
unique, exceptions naming a rule that exists, attribute names scimctl knows), each
problem with the entry's line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from scimctl.errors import Problem
from scimctl.manifest.models import PolicyModel, RuleModel
from scimctl.model import USER_ATTRIBUTES
from scimctl.model.governance import Condition, Exemption, Governance, RoleHold, Rule, Subject

# Attributes a condition may name (``roles`` is matched with role:, groups with group:).
CONDITION_ATTRIBUTES = tuple(a for a in USER_ATTRIBUTES if a != "roles")
KNOWN = ", ".join(CONDITION_ATTRIBUTES)


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(str(v) for v in items)


def _conditions(
    spec: dict[str, Any], where: str, field: str, problems: list[Problem]
) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for key, value in spec.items():
        if key == "attribute":
            out += [Condition("set", name) for name in _names(value)]
            bad = [n for n in _names(value) if n not in CONDITION_ATTRIBUTES]
        elif key == "role" or key == "group":
            out += [Condition("role" if key == "role" else "group", n) for n in _names(value)]
            bad = []
        else:
            out.append(Condition("match", key, _names(value)))
            bad = [key] if key not in CONDITION_ATTRIBUTES else []
        for name in bad:
            problems.append(
                Problem(
                    where, field,
                    f"{name!r} is not a user attribute; use one of {KNOWN}",
                )
            )  # fmt: skip
    return tuple(out)


def _rule(m: RuleModel, where: str, problems: list[Problem]) -> Rule:
    if m.conflict is not None:
        grants = tuple(
            RoleHold(g) if isinstance(g, str) else RoleHold(g.role, g.division) for g in m.conflict
        )
        if len(set(grants)) < len(grants):
            problems.append(Problem(where, "policy.rules.conflict", "a role is listed twice"))
        return Rule(m.id, m.description, "conflict", grants=grants, where=where)
    if m.when is not None and m.require is not None:
        subject = (
            Subject("role", m.when.role) if m.when.role else Subject("group", m.when.group or "")
        )
        conds = _conditions(m.require, where, "policy.rules.require", problems)
        return Rule(m.id, m.description, "requires", subject=subject, conditions=conds, where=where)
    subject = Subject("role", m.role) if m.role else Subject("group", m.group or "")
    if m.max is not None:
        return Rule(m.id, m.description, "limit", subject=subject, max=m.max, where=where)
    conds = _conditions(m.only or {}, where, "policy.rules.only", problems)
    return Rule(m.id, m.description, "only", subject=subject, conditions=conds, where=where)


def build_governance(
    policy: PolicyModel,
    rule_lines: list[str],
    exception_lines: list[str],
    as_of: dt.date,
    problems: list[Problem],
) -> Governance | None:
    """The manifest's rules and exceptions (None when it has neither)."""
    if not policy.rules and not policy.exceptions:
        return None
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for i, m in enumerate(policy.rules):
        where = rule_lines[i] if i < len(rule_lines) else ""
        if m.id in seen:
            problems.append(
                Problem(where, "policy.rules.id", f"rule id {m.id!r} is also used at {seen[m.id]}")
            )
            continue
        seen[m.id] = where
        rules.append(_rule(m, where, problems))
    exceptions = []
    for i, e in enumerate(policy.exceptions):
        where = exception_lines[i] if i < len(exception_lines) else ""
        if e.rule not in seen:
            known = ", ".join(seen) or "none"
            problems.append(
                Problem(where, "policy.exceptions.rule", f"no rule {e.rule!r} (rules: {known})")
            )
            continue
        until = dt.date.fromisoformat(e.until)
        exceptions.append(Exemption(e.rule, e.user, e.reason, until, e.approved_by, where))
    return Governance(tuple(rules), tuple(exceptions), as_of)
