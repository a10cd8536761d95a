"""Who held which role and group on a given day, since when, through which change, and why.

Everything comes from the hash-chained journal and the state, without a network
call, so a past day is answered the same way as today. The journal records what
each operation changed; what an account already held when scimctl adopted it is
recovered from the *before* side of the first later change of it, else from what
the state last recorded (and then dated to the adoption).

The day is inclusive and in UTC: ``as_of`` 2026-06-30 counts every operation up to
2026-06-30T23:59:59Z. Before the first apply, nobody holds anything.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimctl.governance import holdings
from scimctl.governance.evaluate import evaluate
from scimctl.governance.holdings import Holding
from scimctl.governance.report import GovernanceReport
from scimctl.model import Desired, StateView
from scimctl.model.governance import Exemption, Governance, Rule
from scimctl.model.grants import grant_names

CREATING = ("create", "restore", "adopt", "import", "rekey", "reactivate")
ENDING = ("delete", "forget", "release")


@dataclass(frozen=True)
class Origin:
    """The change that gave an account its access (None fields: not recorded)."""

    at: str | None = None
    run: str | None = None
    commit: str | None = None
    actor: str | None = None
    action: str | None = None
    adopted: bool = False  # held already when scimctl took the account over


@dataclass
class _Account:
    key: str
    user_name: str | None = None
    exists: bool = False
    origin: Origin = field(default_factory=Origin)
    attrs: dict[str, Any] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # attributes the journal gave by the day
    roles: dict[str, Origin] | None = None  # None: not recorded by the day
    groups: dict[str, Origin] = field(default_factory=dict)
    groups_known: set[str] = field(default_factory=set)
    granted: dict[str, Origin] = field(default_factory=dict)  # "Role in Division" -> origin


@dataclass(frozen=True)
class AccessRow:
    """One role or group one account holds."""

    user: str
    user_name: str | None
    kind: str  # role | group
    name: str
    since: str | None
    run: str | None
    commit: str | None
    actor: str | None
    change: str | None  # the journal's action (create, update, add_members, ...)
    where: str | None  # the manifest line or CSV row asking for the account
    exceptions: tuple[str, ...] = ()  # exceptions that allow it, in words

    def doc(self) -> dict[str, Any]:
        return {
            "user": self.user, "userName": self.user_name, "kind": self.kind,
            "name": self.name, "since": self.since, "run": self.run, "commit": self.commit,
            "actor": self.actor, "change": self.change, "where": self.where,
            "exceptions": list(self.exceptions),
        }  # fmt: skip


@dataclass(frozen=True)
class AccessReport:
    workspace: str
    as_of: dt.date
    accounts: int
    rows: list[AccessRow]
    verdict: GovernanceReport | None
    weeks: list[tuple[str, int]]  # (Monday of the week, operations that succeeded)

    @property
    def holders(self) -> dict[str, int]:
        return dict(sorted(Counter(r.name for r in self.rows if r.kind == "role").items()))

    @property
    def members(self) -> dict[str, int]:
        return dict(sorted(Counter(r.name for r in self.rows if r.kind == "group").items()))

    @property
    def violations(self) -> int:
        v = self.verdict
        return 0 if v is None else sum(1 for f in v.findings if f.status != "excepted")

    @property
    def active_exceptions(self) -> int:
        v = self.verdict
        return 0 if v is None else sum(1 for e in v.exceptions if e.state in ("active", "expiring"))

    def doc(self) -> dict[str, Any]:
        """The JSON report: the summary the HTML shows, then every row."""
        v = self.verdict
        return {
            "workspace": self.workspace,
            "as_of": self.as_of.isoformat(),
            "summary": {
                "accounts": self.accounts,
                "access": len(self.rows),
                "holders_per_role": self.holders,
                "members_per_group": self.members,
                "violations": self.violations,
                "exceptions": self.active_exceptions,
                "changes_per_week": [{"week": w, "changes": n} for w, n in self.weeks],
            },
            "access": [r.doc() for r in self.rows],
            "findings": [f.model_dump() for f in v.findings] if v else [],
            "exceptions": [e.model_dump() for e in v.exceptions] if v else [],
            "rules": [r.model_dump() for r in v.rules] if v else [],
        }


def _end_of(day: dt.date) -> str:
    return f"{day.isoformat()}T23:59:59Z"


def _origin(op: dict[str, Any], adopted: bool = False) -> Origin:
    return Origin(
        op.get("at"), op.get("run_id"), op.get("commit"), op.get("actor"), op.get("action"), adopted
    )


def _kinds(op: dict[str, Any]) -> set[str]:
    return set(str(op.get("action") or "").split("+"))


def replay(
    operations: Iterable[dict[str, Any]], state: StateView, as_of: dt.date
) -> dict[str, _Account]:
    """Accounts as the journal leaves them at the end of ``as_of``.

    ``operations`` are the journal's results (``history.history`` rows), any order.
    """
    ops = sorted(
        (o for o in operations if o.get("outcome") == "ok"), key=lambda o: (o["at"], o["id"])
    )
    end = _end_of(as_of)
    past = [o for o in ops if o["at"] <= end]
    future = [o for o in ops if o["at"] > end]
    accounts: dict[str, _Account] = {}
    key_of: dict[str, str] = {m.user_name.lower(): k for k, m in state.users.items()}
    for o in ops:
        if o["resource"] == "user" and o.get("user_name"):
            key_of.setdefault(str(o["user_name"]).lower(), o["resource_key"])
    for o in past:
        if o["resource"] == "user":
            _user_op(o, accounts)
        else:
            _group_op(o, accounts, key_of)
    _fill_from_later(future, accounts, key_of, state)
    return accounts


def _user_op(o: dict[str, Any], accounts: dict[str, _Account]) -> None:
    changes = o.get("changes") or {}
    key = o["resource_key"]
    ext = changes.get("externalId")
    if isinstance(ext, dict) and ext.get("before") in accounts:  # a rekey moves the account
        old = accounts.pop(ext["before"])
        old.key = key
        accounts[key] = old
    acc = accounts.setdefault(key, _Account(key))
    if o.get("user_name"):
        acc.user_name = o["user_name"]
    kinds = _kinds(o)
    origin = _origin(o)  # one value shared by everything this operation granted
    if kinds & set(ENDING):
        acc.exists = False
        acc.roles, acc.groups = None, {}
        return
    if kinds & set(CREATING) and not acc.exists:
        acc.exists = True
        acc.origin = origin
    for attr, change in changes.items():
        if not isinstance(change, dict) or attr in ("externalId", "members"):
            continue
        after = change.get("after")
        if attr == "roles":
            held = acc.roles if acc.roles is not None else {}
            names = [r for r in after or [] if isinstance(r, str)]
            acc.roles = {r: held.get(r) or origin for r in names}
        else:
            if attr == "grants":  # role x division: each grant dated by its own change
                acc.granted = {n: acc.granted.get(n) or origin for n in grant_names(after)}
            acc.attrs[attr] = after
            acc.known.add(attr)
    if "deactivate" in kinds:
        acc.attrs["active"] = False
        acc.known.add("active")


def _group_op(o: dict[str, Any], accounts: dict[str, _Account], key_of: dict[str, str]) -> None:
    members = (o.get("changes") or {}).get("members") or {}
    group = o["resource_key"]
    origin = _origin(o)
    for side in ("added", "removed"):
        for name in members.get(side) or []:
            key = key_of.get(str(name).lower(), str(name))
            acc = accounts.setdefault(key, _Account(key))
            acc.groups_known.add(group)
            if side == "added":
                acc.groups.setdefault(group, origin)
            else:
                acc.groups.pop(group, None)


def _fill_from_later(
    future: Sequence[dict[str, Any]],
    accounts: dict[str, _Account],
    key_of: dict[str, str],
    state: StateView,
) -> None:
    """What the journal did not say by the day: the before side of the first later
    change, else the state's record; dated to the account's adoption."""
    for o in future:
        if o["resource"] == "user":
            acc = accounts.get(o["resource_key"])
            if acc is None or not acc.exists:
                continue
            for attr, change in (o.get("changes") or {}).items():
                if not isinstance(change, dict) or attr in ("externalId", "members"):
                    continue
                if attr == "roles" and acc.roles is None:
                    names = [r for r in change.get("before") or [] if isinstance(r, str)]
                    acc.roles = {r: _adopted(acc) for r in names}
                elif attr != "roles" and attr not in acc.known:
                    acc.attrs[attr] = change.get("before")
                    acc.known.add(attr)
            continue
        members = (o.get("changes") or {}).get("members") or {}
        group = o["resource_key"]
        for side in ("added", "removed"):
            for name in members.get(side) or []:
                acc = accounts.get(key_of.get(str(name).lower(), str(name)))
                if acc is None or not acc.exists or group in acc.groups_known:
                    continue
                acc.groups_known.add(group)
                if side == "removed":  # removed later: a member until then
                    acc.groups[group] = _adopted(acc)
    for key, acc in accounts.items():
        if not acc.exists:
            continue
        applied = state.applied.get(key, {})
        if acc.roles is None:
            acc.roles = {str(r): _adopted(acc) for r in applied.get("roles") or []}
        for attr, value in applied.items():
            if attr not in acc.known and attr != "roles":
                acc.attrs[attr] = value
        for group, member in state.memberships:
            if member == key and group not in acc.groups_known:
                acc.groups[group] = _adopted(acc)


def _adopted(acc: _Account) -> Origin:
    o = acc.origin
    return Origin(o.at, o.run, o.commit, o.actor, o.action, adopted=True)


def _allowing(
    gov: Governance | None,
    rules: dict[str, Rule],
    excepted: set[tuple[str, str]],
    h: Holding,
    kind: str,
    name: str,
) -> tuple[str, ...]:
    """The exceptions that allow this role or group: active, for this user, for a
    rule about it that the user breaks (an exception covering nothing allows nothing)."""
    if gov is None:
        return ()
    out = []
    for e in gov.exceptions:
        rule = rules.get(e.rule)
        if rule is None or (e.rule, h.key) not in excepted:
            continue
        if (
            e.covers(e.rule, h.key, h.user_name)
            and e.active(gov.as_of)
            and _mentions(rule, kind, name)
        ):
            out.append(_exception_text(e))
    return tuple(out)


def _mentions(rule: Rule, kind: str, name: str) -> bool:
    folded = name.casefold()
    if kind == "role" and any(g.role.casefold() == folded for g in rule.grants):
        return True
    s = rule.subject
    if s is not None and s.kind == kind and s.name.casefold() == folded:
        return True
    return any(c.kind == kind and c.name.casefold() == folded for c in rule.conditions)


def _exception_text(e: Exemption) -> str:
    return f"{e.rule} until {e.until.isoformat()}, approved by {e.approved_by}: {e.reason}"


def build(
    operations: Iterable[dict[str, Any]],
    state: StateView,
    workspace: str,
    as_of: dt.date,
    desired: Desired | None = None,
) -> AccessReport:
    """The access report for the end of ``as_of`` (a pure function of its inputs)."""
    ops = list(operations)
    accounts = replay(ops, state, as_of)
    gov = desired.governance if desired is not None else None
    if gov is not None and gov.as_of != as_of:
        gov = Governance(gov.rules, gov.exceptions, as_of)
    rules = {r.id: r for r in gov.rules} if gov else {}
    items: list[Holding] = []
    held: dict[str, list[tuple[str, str, Origin]]] = {}
    for key in sorted(accounts):
        acc = accounts[key]
        if not acc.exists or acc.attrs.get("active", True) is False:
            continue
        spec = desired.users.get(key) if desired is not None else None
        where = str(spec.location) if spec is not None and spec.location else None
        attrs = {**acc.attrs, "roles": sorted(acc.roles or {})}
        items.append(
            Holding(
                key, key, acc.user_name, attrs, holdings.grants_of(attrs),
                frozenset(acc.groups), where, True,
            )
        )  # fmt: skip
        scoped = set(grant_names(acc.attrs.get("grants")))
        plain = {r: o for r, o in (acc.roles or {}).items() if all(
            not s.startswith(f"{r} in ") for s in scoped)}  # fmt: skip
        held[key] = [("role", r, o) for r, o in sorted(plain.items())]
        held[key] += [("role", g, acc.granted.get(g) or _adopted(acc)) for g in sorted(scoped)]
        held[key] += [("group", g, o) for g, o in sorted(acc.groups.items())]
    verdict = evaluate(gov, items, items) if gov is not None else None
    excepted = (
        {(f.rule, f.user) for f in verdict.findings if f.status == "excepted"} if verdict else set()
    )
    rows: list[AccessRow] = []
    for h in items:
        for kind, name, o in held[h.key]:
            rows.append(
                AccessRow(
                    h.key, h.user_name, kind, name, o.at, o.run, o.commit, o.actor,
                    (f"{o.action} (held when adopted)" if o.adopted else o.action),
                    h.where, _allowing(gov, rules, excepted, h, kind, name),
                )
            )  # fmt: skip
    return AccessReport(workspace, as_of, len(items), rows, verdict, _weeks(ops, as_of))


def _weeks(ops: Sequence[dict[str, Any]], as_of: dt.date) -> list[tuple[str, int]]:
    end = _end_of(as_of)
    counts: Counter[str] = Counter()
    for o in ops:
        if o.get("outcome") != "ok" or o["at"] > end:
            continue
        day = dt.date.fromisoformat(o["at"][:10])
        counts[(day - dt.timedelta(days=day.weekday())).isoformat()] += 1
    return sorted(counts.items())


def filtered(
    report: AccessReport, user: str | None, role: str | None, group: str | None
) -> AccessReport:
    """Only the rows of one user (key or userName), role or group; the summary follows."""

    def keep(r: AccessRow) -> bool:
        if user and user.casefold() not in (r.user.casefold(), (r.user_name or "").casefold()):
            return False
        if role and not (r.kind == "role" and r.name.casefold() == role.casefold()):
            return False
        return not (group and not (r.kind == "group" and r.name.casefold() == group.casefold()))

    if not (user or role or group):
        return report
    rows = [r for r in report.rows if keep(r)]
    return AccessReport(
        report.workspace, report.as_of, len({r.user for r in rows}), rows, report.verdict,
        report.weeks,
    )  # fmt: skip
