"""Judging the rules: a pure function from (rules, before, after) to findings.

A finding is *new* when the plan creates it (the account did not break that rule
before), *existing* when the directory breaks it already, and *excepted* when an
active exception covers it. Only new findings block a plan; existing ones are for
review. An exception past its ``until`` covers nothing: its finding is new or
existing again, and says which exception expired.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from scimctl.governance import holdings
from scimctl.governance.holdings import Holding
from scimctl.governance.report import ExceptionState, Finding, GovernanceReport, RuleState
from scimctl.model import Desired, Snapshot, StateView
from scimctl.model.governance import EXPIRY_WARNING_DAYS, Condition, Exemption, Governance, Rule
from scimctl.plan.model import Plan


def _value(h: Holding, name: str) -> Any:
    v = h.attrs.get(name)
    return v if v not in (None, "", []) else None


def _holds(h: Holding, c: Condition) -> bool:
    if c.kind == "set":
        return _value(h, c.name) is not None
    if c.kind == "match":
        v = _value(h, c.name)
        return isinstance(v, str | int | float) and str(v).casefold() in {
            x.casefold() for x in c.values
        }
    return bool(holdings.holders([h], c.kind, c.name))


def _missing(h: Holding, conds: Sequence[Condition]) -> list[str]:
    out = []
    for c in conds:
        if _holds(h, c):
            continue
        if c.kind == "set":
            out.append(f"no {c.name}")
        elif c.kind == "match":
            v = _value(h, c.name)
            shown = "unset" if v is None else repr(v)
            out.append(f"{c.name} is {shown} (allowed: {', '.join(c.values)})")
        else:
            out.append(f"not holding {c.kind} {c.name}")
    return out


def violations(rule: Rule, items: Sequence[Holding], exempt: set[str]) -> dict[str, str]:
    """ident -> what breaks ``rule``; ``exempt`` idents are not counted against a limit."""
    out: dict[str, str] = {}
    if rule.kind == "conflict":
        for h in items:
            matched = [want for want in rule.grants if h.holds(want)]
            if len(matched) >= 2:  # two of the rule's entries, not one role in two places
                held = sorted({str(g) for want in matched for g in h.holds(want)})
                out[h.ident] = "holds " + " and ".join(held)
        return out
    assert rule.subject is not None
    subject = rule.subject
    found = holdings.holders(items, subject.kind, subject.name)
    if rule.kind == "limit":
        counted = [h for h in found if h.ident not in exempt]
        if rule.max is not None and len(counted) > rule.max:
            for h in found:
                out[h.ident] = f"one of {len(counted)} holding {subject} (at most {rule.max})"
        return out
    for h in found:
        missing = _missing(h, rule.conditions)
        if missing:
            verb = "holds" if subject.kind == "role" else "is in"
            out[h.ident] = f"{verb} {subject} but " + ", ".join(missing)
    return out


def _exempt(gov: Governance, rule: Rule, items: Sequence[Holding]) -> set[str]:
    if not any(e.rule == rule.id for e in gov.exceptions):
        return set()
    return {
        h.ident
        for h in items
        if any(e.active(gov.as_of) for e in _covering(gov.exceptions, rule.id, h))
    }


def _covering(ex: Sequence[Exemption], rule: str, h: Holding) -> list[Exemption]:
    return [e for e in ex if e.covers(rule, h.key, h.user_name)]


def evaluate(
    gov: Governance, before: Sequence[Holding], after: Sequence[Holding]
) -> GovernanceReport:
    """The findings of every rule on ``after``, labelled against ``before``."""
    as_of = gov.as_of
    findings: list[Finding] = []
    used: set[int] = set()
    states: list[RuleState] = []
    for rule in gov.rules:
        exempt_after = _exempt(gov, rule, after)
        exempt_before = _exempt(gov, rule, before)
        now = violations(rule, after, exempt_after)
        was = violations(rule, before, exempt_before)
        counts = {"violated": 0, "excepted": 0}
        for h in after:
            detail = now.get(h.ident)
            if detail is None:
                continue
            covering = _covering(gov.exceptions, rule.id, h)
            used.update(id(e) for e in covering)
            active = [e for e in covering if e.active(as_of)]
            expired = [e for e in covering if not e.active(as_of)]
            lapsed = max(e.until for e in expired).isoformat() if expired and not active else None
            if active:
                status: Literal["new", "existing", "excepted"] = "excepted"
                counts["excepted"] += 1
            else:
                status = "existing" if h.ident in was else "new"
                counts["violated"] += 1
            findings.append(
                Finding(
                    rule=rule.id, description=rule.description, user=h.key, detail=detail,
                    where=h.where, status=status,
                    until=max(e.until for e in active).isoformat() if active else None,
                    expired=lapsed,
                )
            )  # fmt: skip
        state: Literal["holding", "violated", "excepted"] = (
            "violated" if counts["violated"] else "excepted" if counts["excepted"] else "holding"
        )
        states.append(
            RuleState(
                id=rule.id, description=rule.description, kind=rule.kind, text=rule.text(),
                where=rule.where, state=state, violations=counts["violated"],
                excepted=counts["excepted"],
            )
        )  # fmt: skip
    order = {"new": 0, "existing": 1, "excepted": 2}
    findings.sort(key=lambda f: (order[f.status], f.rule, f.user))
    return GovernanceReport(
        as_of=as_of.isoformat(),
        rules=states,
        findings=findings,
        exceptions=exception_states(gov, used),
    )


def exception_states(gov: Governance, used: set[int]) -> list[ExceptionState]:
    """Every exception, those ending soonest first; expired ones last."""
    out = []
    for e in gov.exceptions:
        days = (e.until - gov.as_of).days
        if days < 0:
            state: Literal["active", "expiring", "expired", "unused"] = "expired"
        elif id(e) not in used:
            state = "unused"
        elif days <= EXPIRY_WARNING_DAYS:
            state = "expiring"
        else:
            state = "active"
        out.append(
            ExceptionState(
                rule=e.rule, user=e.user, reason=e.reason, until=e.until.isoformat(),
                approved_by=e.approved_by, where=e.where, state=state, days_left=days,
            )
        )  # fmt: skip
    rank = {"expiring": 0, "active": 1, "unused": 2, "expired": 3}
    return sorted(out, key=lambda s: (rank[s.state], s.until, s.rule, s.user))


def evaluate_plan(
    plan: Plan, desired: Desired, snapshot: Snapshot, state: StateView
) -> GovernanceReport | None:
    """The manifest's rules judged on what ``plan`` leaves behind (None: no rules)."""
    gov = desired.governance
    if gov is None:
        return None
    return evaluate(
        gov,
        holdings.before(snapshot, state, desired),
        holdings.after(plan, snapshot, state, desired),
    )


def as_of_day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def unknown_names(desired: Desired, snapshot: Snapshot) -> list[str]:
    """Rule entries naming a role or group that exists nowhere: such a rule can never
    match, so a typo would pass silently. Plans carry these as warnings."""
    gov = desired.governance
    if gov is None:
        return []
    roles = {r.name.casefold() for r in snapshot.roles}
    groups = {g.casefold() for g in desired.groups} | {g.name.casefold() for g in snapshot.groups}
    out = []
    for rule in gov.rules:
        named = [("role", g.role) for g in rule.grants]
        if rule.subject is not None:
            named.append((rule.subject.kind, rule.subject.name))
        named += [(c.kind, c.name) for c in rule.conditions if c.kind in ("role", "group")]
        for kind, name in named:
            known = roles if kind == "role" else groups
            if kind == "role" and not snapshot.roles_known:
                continue  # a generic SCIM service has no role catalogue to check against
            if name.casefold() not in known:
                where = f" ({rule.where})" if rule.where else ""
                out.append(
                    f"policy.rules {rule.id}{where} names {kind} {name!r}, which "
                    "does not exist: the rule cannot match it"
                )
    return out
