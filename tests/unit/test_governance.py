"""policy.rules and policy.exceptions: the pure engine, and validate's located errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scimctl.errors import InputError
from scimctl.governance.evaluate import evaluate_plan
from scimctl.manifest import load_manifest
from scimctl.model import LiveRole, Location, Snapshot
from scimctl.model.governance import Condition, Exemption, Governance, RoleHold, Rule, Subject
from unit.test_diff import ROLES, desired, groups, live, plan, spec, state

DAY = dt.date(2026, 12, 5)
SUPERVISOR = LiveRole("r-sup", "Supervisor", ("routing:queue:view",))


def snapshot(*users, **members) -> Snapshot:
    return Snapshot(tuple(users), groups(**members), (*ROLES, SUPERVISOR))


SOD = Rule(
    "SOD-1", "approvers do not pay", "conflict", grants=(RoleHold("Agent"), RoleHold("Supervisor"))
)


def gov(*rules: Rule, exceptions: tuple[Exemption, ...] = (), as_of: dt.date = DAY) -> Governance:
    return Governance(rules, exceptions, as_of)


def verdict(g: Governance, d, snap, st=None):
    d = type(d)(d.users, d.groups, d.policy, d.exclude, g)
    st = st or state()
    return evaluate_plan(plan(d, snap, st), d, snap, st)


def with_location(s, line: int):
    return type(s)(s.key, s.attrs, s.groups, Location("scimctl.yaml", line=line))


def test_a_conflict_the_plan_creates_is_new_and_names_user_and_line():
    d = desired(with_location(spec("E1", "a@example.com", roles=["Agent", "Supervisor"]), 12))
    v = verdict(gov(SOD), d, snapshot(live("u1", "a@example.com", "E1", roles=["Agent"])),
                state(("E1", "u1", "a@example.com")))  # fmt: skip
    [f] = v.findings
    assert (f.rule, f.user, f.status, f.where) == ("SOD-1", "E1", "new", "scimctl.yaml:12")
    assert f.detail == "holds Agent and Supervisor"
    assert v.blocking == [f] and v.rules[0].state == "violated"


def test_an_existing_conflict_is_for_review_and_unmanaged_accounts_count():
    snap = snapshot(
        live("u1", "a@example.com", "E1"),
        live("u9", "boss@example.com", "HR-9", roles=["Agent", "Supervisor"]),
    )
    v = verdict(
        gov(SOD), desired(spec("E1", "a@example.com")), snap, state(("E1", "u1", "a@example.com"))
    )
    [f] = v.findings
    assert (f.user, f.status, f.where) == ("HR-9", "existing", None)
    assert v.blocking == []


def test_inactive_accounts_hold_nothing():
    snap = snapshot(
        live("u9", "b@example.com", "HR-9", roles=["Agent", "Supervisor"], active=False)
    )
    assert verdict(gov(SOD), desired(), snap).findings == []


def test_an_exception_covers_until_its_last_day_then_the_violation_is_back():
    d = desired(spec("E1", "a@example.com", roles=["Agent", "Supervisor"]))
    ex = Exemption("SOD-1", "a@example.com", "cover for leave", dt.date(2026, 12, 10), "CFO")
    snap = snapshot()
    v = verdict(gov(SOD, exceptions=(ex,)), d, snap)
    assert [(f.status, f.until) for f in v.findings] == [("excepted", "2026-12-10")]
    assert v.blocking == [] and v.rules[0].state == "excepted"
    assert [(e.state, e.days_left) for e in v.exceptions] == [("expiring", 5)]
    late = verdict(gov(SOD, exceptions=(ex,), as_of=dt.date(2026, 12, 11)), d, snap)
    assert [(f.status, f.expired) for f in late.findings] == [("new", "2026-12-10")]
    assert late.exceptions[0].state == "expired"


def test_exceptions_ending_soon_come_first_and_unused_ones_are_named():
    d = desired(
        spec("E1", "a@example.com", roles=["Agent", "Supervisor"]),
        spec("E2", "b@example.com", roles=["Agent", "Supervisor"]),
    )
    far = Exemption("SOD-1", "E1", "r", dt.date(2027, 6, 30), "CFO")
    soon = Exemption("SOD-1", "E2", "r", dt.date(2026, 12, 12), "CFO")
    idle = Exemption("SOD-1", "E3", "r", dt.date(2026, 12, 6), "CFO")
    v = verdict(gov(SOD, exceptions=(far, idle, soon)), d, snapshot())
    assert [(e.user, e.state) for e in v.exceptions] == [
        ("E2", "expiring"), ("E1", "active"), ("E3", "unused"),
    ]  # fmt: skip


def test_requires_only_and_limit():
    mgr = Rule("MGR-1", "agents have managers", "requires", subject=Subject("role", "Agent"),
               conditions=(Condition("set", "manager"),))  # fmt: skip
    fin = Rule("FIN-1", "sales are sales", "requires", subject=Subject("group", "Sales"),
               conditions=(Condition("match", "department", ("Sales",)),))  # fmt: skip
    sup = Rule("SUP-1", "leads only", "only", subject=Subject("role", "Supervisor"),
               conditions=(Condition("match", "title", ("Team Lead", "Manager")),))  # fmt: skip
    adm = Rule("ADM-1", "few", "limit", subject=Subject("role", "Agent"), max=1)
    d = desired(
        spec("E1", "a@example.com", ("Sales",), roles=["Agent"], department="sales"),
        spec("E2", "b@example.com", ("Sales",), roles=["Agent", "Supervisor"], manager="E1",
             title="team lead", department="Support"),
    )  # fmt: skip
    v = verdict(gov(mgr, fin, sup, adm), d, snapshot())
    got = {(f.rule, f.user): f.detail for f in v.findings}
    assert got == {
        ("ADM-1", "E1"): "one of 2 holding role Agent (at most 1)",
        ("ADM-1", "E2"): "one of 2 holding role Agent (at most 1)",
        ("FIN-1", "E2"): "is in group Sales but department is 'Support' (allowed: Sales)",
        ("MGR-1", "E1"): "holds role Agent but no manager",
    }
    assert {r.id: r.state for r in v.rules} == {
        "MGR-1": "violated", "FIN-1": "violated", "SUP-1": "holding", "ADM-1": "violated",
    }  # fmt: skip


def test_an_exception_takes_its_holder_out_of_a_limit():
    adm = Rule("ADM-1", "few", "limit", subject=Subject("role", "Agent"), max=1)
    d = desired(
        spec("E1", "a@example.com", roles=["Agent"]), spec("E2", "b@example.com", roles=["Agent"])
    )
    ex = Exemption("ADM-1", "E2", "break glass", dt.date(2027, 1, 31), "CISO")
    v = verdict(gov(adm, exceptions=(ex,)), d, snapshot())
    assert v.findings == []


def test_a_division_in_a_conflict_rule_matches_undivided_roles_today():
    rule = Rule(
        "SOD-2", "d", "conflict", grants=(RoleHold("Agent", "Paris"), RoleHold("Supervisor"))
    )
    d = desired(spec("E1", "a@example.com", roles=["Agent", "Supervisor"]))
    assert [f.rule for f in verdict(gov(rule), d, snapshot()).findings] == ["SOD-2"]


def test_no_rules_no_verdict():
    d = desired(spec("E1", "a@example.com"))
    assert evaluate_plan(plan(d, snapshot()), d, snapshot(), state()) is None


# -- validate --------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scimctl.yaml"
    path.write_text("version: 1\ntarget: {api_url: 'http://127.0.0.1:1'}\n" + text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_manifest(path)
    return [f"{p.where}: {p.field}: {p.message}" for p in exc.value.problems]


def test_rules_are_read_with_their_lines(tmp_path):
    path = write(tmp_path, """policy:
  rules:
    - {id: SOD-1, description: d, conflict: [A, {role: B, division: Paris}]}
    - {id: MGR-1, description: d, when: {role: Agent}, require: {attribute: manager}}
    - {id: ADM-1, description: d, group: Admins, max: 3}
    - {id: SUP-1, description: d, role: Supervisor, only: {title: [Team Lead, Manager]}}
  exceptions:
    - {rule: SOD-1, user: E1, reason: cover, until: 2026-12-31, approved_by: CFO}
""")  # fmt: skip
    g = load_manifest(path, as_of=DAY).desired.governance
    assert g is not None and g.as_of == DAY
    assert [(r.id, r.kind, r.where) for r in g.rules] == [
        ("SOD-1", "conflict", f"{path}:5"), ("MGR-1", "requires", f"{path}:6"),
        ("ADM-1", "limit", f"{path}:7"), ("SUP-1", "only", f"{path}:8"),
    ]  # fmt: skip
    assert g.rules[0].grants == (RoleHold("A"), RoleHold("B", "Paris"))
    assert g.exceptions[0].until == dt.date(2026, 12, 31) and g.exceptions[0].where == f"{path}:10"


def test_rule_mistakes_are_located(tmp_path):
    path = write(tmp_path, """policy:
  rules:
    - {id: SOD-1, description: d, conflict: [A]}
    - {id: X, description: d, role: A}
    - {id: Y, conflict: [A, B]}
  exceptions:
    - {rule: SOD-1, user: E1, reason: r, until: 31/12/2026, approved_by: CFO}
""")  # fmt: skip
    got = problems(path)
    assert any(p.startswith(f"{path}:5: policy.rules[0].conflict:") for p in got), got
    assert any(p.startswith(f"{path}:6: policy.rules[1]:") and "exactly one kind" in p for p in got)
    assert any(p.startswith(f"{path}:7: policy.rules[2].description:") for p in got)
    assert any(p.startswith(f"{path}:9: policy.exceptions[0].until:") for p in got)


def test_rules_checked_across_entries(tmp_path):
    path = write(tmp_path, """policy:
  rules:
    - {id: SOD-1, description: d, conflict: [A, B]}
    - {id: SOD-1, description: d, conflict: [C, D]}
    - {id: Y, description: d, when: {role: A}, require: {colour: red}}
  exceptions:
    - {rule: NOPE, user: E1, reason: r, until: 2026-12-31, approved_by: CFO}
""")  # fmt: skip
    assert problems(path) == [
        f"{path}:6: policy.rules.id: rule id 'SOD-1' is also used at {path}:5",
        f"{path}:7: policy.rules.require: 'colour' is not a user attribute; use one of "
        "userName, displayName, active, title, department, division, employeeNumber, workEmail, "
        "dateHire, manager, phoneNumbers, routingSkills, routingLanguages",
        f"{path}:9: policy.exceptions.rule: no rule 'NOPE' (rules: SOD-1, Y)",
    ]


def test_rules_move_the_manifest_digest_but_the_day_does_not(tmp_path):
    plain = load_manifest(write(tmp_path, "")).digest
    path = write(tmp_path, "policy: {rules: [{id: S, description: d, conflict: [A, B]}]}\n")
    ruled = load_manifest(path, as_of=DAY).digest
    assert ruled != plain
    assert load_manifest(path, as_of=DAY + dt.timedelta(days=40)).digest == ruled


# -- access as of a day (pure) -----------------------------------------------------


def op(i, at, action, resource, key, changes=None, user_name=None):
    return {
        "id": i, "at": at, "action": action, "resource": resource, "resource_key": key,
        "user_name": user_name, "changes": changes or {}, "outcome": "ok", "run_id": f"run{i}",
        "commit": f"c{i}", "actor": "ci",
    }  # fmt: skip


def test_what_an_adopted_account_held_comes_from_its_first_later_change():
    from scimctl.governance.access import build
    from scimctl.model import StateView

    ops = [
        op(1, "2026-06-01T09:00:00Z", "adopt", "user", "E1",
           {"title": {"before": "x", "after": "y"}}, "a@example.com"),
        op(2, "2026-06-10T09:00:00Z", "update", "user", "E1",
           {"roles": {"before": ["Agent", "Employee"], "after": ["Employee"]}}, "a@example.com"),
        op(3, "2026-06-10T09:00:00Z", "remove_members", "group", "Sales",
           {"members": {"removed": ["a@example.com"]}}),
    ]  # fmt: skip
    st = StateView("l", 2, applied={"E1": {"roles": ["Employee"]}})
    before = build(ops, st, "ws", dt.date(2026, 6, 5))
    got = [(r.kind, r.name, r.since, r.change) for r in before.rows]
    assert got == [
        ("role", "Agent", "2026-06-01T09:00:00Z", "adopt (held when adopted)"),
        ("role", "Employee", "2026-06-01T09:00:00Z", "adopt (held when adopted)"),
        ("group", "Sales", "2026-06-01T09:00:00Z", "adopt (held when adopted)"),
    ]
    after = build(ops, st, "ws", dt.date(2026, 6, 10))
    assert [(r.kind, r.name) for r in after.rows] == [("role", "Employee")]
    assert after.weeks == [("2026-06-01", 1), ("2026-06-08", 2)]
    assert build(ops, st, "ws", dt.date(2026, 5, 31)).rows == []


def test_grants_are_matched_by_division_and_plain_roles_in_the_users_own():
    from scimctl.governance.evaluate import violations
    from scimctl.governance.holdings import Holding, grants_of

    rule = Rule(
        "SOD-2", "d", "conflict", grants=(RoleHold("Agent"), RoleHold("Supervisor", "Sales"))
    )

    def holder(key: str, **attrs) -> Holding:
        return Holding(key, key, None, attrs, grants_of(attrs), frozenset())

    def sup(division: str) -> list[dict]:
        return [{"role": "Supervisor", "division": division, "roleId": "r", "divisionId": "d"}]

    items = [
        holder("scoped-sales", roles=["Agent", "Supervisor"], division="Home", grants=sup("Sales")),
        holder(
            "scoped-paris", roles=["Agent", "Supervisor"], division="Sales", grants=sup("Paris")
        ),
        holder("plain-sales", roles=["Agent", "Supervisor"], division="Sales"),
        holder("plain-home", roles=["Agent", "Supervisor"], division="Home"),
        holder("everywhere", roles=["Agent"], grants=sup("*")),
    ]
    assert violations(rule, items, set()) == {
        "scoped-sales": "holds Agent and Supervisor in Sales",
        "plain-sales": "holds Agent and Supervisor",
        "everywhere": "holds Agent and Supervisor in all divisions",
    }
    twice = Rule("X", "d", "conflict", grants=(RoleHold("Agent"), RoleHold("Supervisor")))
    one_role = [holder("a", roles=["Supervisor"], grants=sup("Sales") + sup("Paris"))]
    assert violations(twice, one_role, set()) == {}  # one role in two places is not two


def test_a_huge_verdict_is_counted_per_rule_and_the_comment_stays_under_the_limit():
    from scimctl.plan.redact import redact_plan
    from scimctl.plan.render import GITHUB_COMMENT_LIMIT, render_markdown, render_text

    adm = Rule("ADM-1", "few", "limit", subject=Subject("role", "Agent"), max=1)
    snap = snapshot(*(live(f"u{i}", f"user{i}@example.com", None, roles=["Agent"])
                      for i in range(3000)))  # fmt: skip
    exceptions = tuple(
        Exemption("ADM-1", f"user{i}@example.com", "r" * 300, dt.date(2027, 1, 1), "CISO")
        for i in range(0, 3000, 50)
    )
    d = desired()
    d = type(d)(d.users, d.groups, d.policy, d.exclude, gov(adm, exceptions=exceptions))
    p = plan(d, snap, state())
    p = p.model_copy(update={"governance": evaluate_plan(p, d, snap, state())})
    assert p.governance and len(p.governance.existing) == 3000 - len(exceptions)
    text = render_markdown(p)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert "| ADM-1 | 2,940 |" in text and "counted per rule" in text
    assert "30 more exceptions, ending later" in text
    assert text.count("user2950@example.com") == 0  # not listed one by one
    assert render_text(p).count("ADM-1 user ") == 3000 - len(exceptions)  # the text lists all
    masked = redact_plan(p, ["userName"])
    assert masked.governance is not None
    assert {f.user for f in masked.governance.findings} == {"***@example.com"}
    assert {e.user for e in masked.governance.exceptions} == {"***@example.com"}


def test_a_rule_naming_a_role_or_group_that_does_not_exist_is_a_plan_warning():
    from scimctl.governance.evaluate import unknown_names

    typo = Rule("SOD-9", "d", "conflict", grants=(RoleHold("Agent"), RoleHold("Supervisr")),
                where="scimctl.yaml:7")  # fmt: skip
    fin = Rule("FIN-1", "d", "requires", subject=Subject("group", "Finance"),
               conditions=(Condition("group", "Sales"),))  # fmt: skip
    d = desired()
    d = type(d)(d.users, d.groups, d.policy, d.exclude, gov(typo, fin, SOD))
    assert unknown_names(d, snapshot()) == [
        "policy.rules SOD-9 (scimctl.yaml:7) names role 'Supervisr', which does not exist: "
        "the rule cannot match it",
        "policy.rules FIN-1 names group 'Finance', which does not exist: the rule cannot match it",
    ]
