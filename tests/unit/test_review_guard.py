"""The pure parts of "apply runs what was reviewed": seal, comparison, policy rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scimctl.apply.guard import check_reviewed, policy_violations
from scimctl.apply.recompute import Recomputed, target_document
from scimctl.config import Target
from scimctl.errors import PlanFileError, PlanNotReviewed
from scimctl.model import Desired, Policy, Snapshot, StateView
from scimctl.plan import integrity
from scimctl.plan.compare import compare_plans
from scimctl.plan.model import Action, Change, Plan
from unit.test_diff import desired, live, plan, snapshot, spec, state

TARGET = Target("genesys", "http://x", "http://x")


def edited(p: Plan, **fields) -> Plan:
    """The plan with top-level fields replaced, as an attacker editing the file would."""
    return Plan.model_validate({**p.model_dump(mode="json"), **fields})


def now(d: Desired, snap: Snapshot, st: StateView, **kw: Any) -> Recomputed:
    """What apply's recompute gives for TARGET: the plan computed now from ``snap``."""
    computed = plan(d, snap, st, **kw)
    return Recomputed(snap, edited(computed, workspace=TARGET.workspace,
                                   target=target_document(TARGET)))  # fmt: skip


def with_actions(p: Plan, actions: list[dict]) -> Plan:
    return edited(p, actions=actions)


def managed_pair():
    """Two managed users, E1 to be retitled; an unmanaged account u9 exists too."""
    d = desired(
        spec("E1", "a@example.com", title="Lead"),
        spec("E2", "b@example.com"),
    )
    snap = snapshot(
        live("u1", "a@example.com", "E1"),
        live("u2", "b@example.com", "E2"),
        live("u9", "boss@example.com", "HR-9"),
    )
    st = state(("E1", "u1", "a@example.com"), ("E2", "u2", "b@example.com"))
    return d, snap, st


# -- seal --------------------------------------------------------------------------


def test_seal_covers_every_field_and_ignores_formatting():
    doc = {"b": [1, 2], "a": {"x": "é"}}
    sealed = integrity.seal(doc)
    integrity.verify(json.loads(json.dumps(sealed, indent=4)))  # reformatted: still fine
    for change in ({"b": [2, 1]}, {"a": {"x": "e"}}, {"new": 1}):
        with pytest.raises(integrity.PlanIntegrityError, match="edited or damaged"):
            integrity.verify({**sealed, **change})
    without = {k: v for k, v in sealed.items() if k != "digest"}
    with pytest.raises(integrity.PlanIntegrityError, match="no content digest"):
        integrity.verify(without)


def test_signature_needs_the_same_key_and_never_shows_it():
    doc: dict[str, Any] = {"actions": []}
    signed = integrity.seal(doc, "key-one-s3cret")
    integrity.verify(signed, "key-one-s3cret")
    integrity.verify(signed)  # without a key only the digest is checked
    with pytest.raises(integrity.PlanIntegrityError, match="not signed") as unsigned:
        integrity.verify(integrity.seal(doc), "key-one-s3cret")
    with pytest.raises(integrity.PlanIntegrityError, match="signature does not match") as other:
        integrity.verify(signed, "key-two")
    for exc in (unsigned, other):
        assert "s3cret" not in str(exc.value) and "key-two" not in str(exc.value)
    assert "s3cret" not in json.dumps(signed)


def test_empty_plan_key_is_an_error_not_unsigned():
    assert integrity.plan_key({}) is None
    assert integrity.plan_key({"SCIMCTL_PLAN_KEY": "k"}) == "k"
    with pytest.raises(integrity.PlanIntegrityError, match="set but empty"):
        integrity.plan_key({"SCIMCTL_PLAN_KEY": " "})


def test_saved_plan_round_trips_and_matches_its_run_digest(tmp_path):
    d, snap, st = managed_pair()
    p = plan(d, snap, st)
    path = tmp_path / "plan.json"
    p.save(path)
    assert Plan.load(path).model_dump(mode="json") == p.model_dump(mode="json")
    assert json.loads(path.read_text())["digest"] == p.digest
    doc = json.loads(path.read_text())
    doc["actions"][0]["changes"]["title"]["after"] = "Boss"
    path.write_text(json.dumps(doc))
    with pytest.raises(integrity.PlanIntegrityError, match="edited"):
        Plan.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xff\xfe\x00", "not UTF-8"),
        (b'{"format_version": 2, "actions": [', "not a JSON plan"),
        (b"[1, 2]", "a JSON object was expected"),
        (b'{"format_version": 1}', "made by another scimctl in plan format 1"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_bad_plan_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(PlanFileError, match=message) as exc:
        Plan.load(path)
    assert "\n" not in str(exc.value)


# -- comparison --------------------------------------------------------------------


def test_identical_plans_have_no_differences_whatever_the_action_order():
    d, snap, st = managed_pair()
    p = plan(d, snap, st, max_deprovision=None)
    reordered = with_actions(p, [a.model_dump(mode="json") for a in reversed(p.actions)])
    assert compare_plans(reordered, p) == []


def test_each_kind_of_edit_is_named():
    d, snap, st = managed_pair()
    p = plan(d, snap, st)
    (update,) = [a.model_dump(mode="json") for a in p.actions]
    assert update["id"] == "update:user:E1"
    delete = {"id": "delete:user:HR-9", "kind": "delete", "resource": "user", "key": "HR-9",
              "live_id": "u9"}  # fmt: skip
    retargeted = {**update, "live_id": "u2"}
    cases = {
        "added": ([update, delete], "- delete:user:HR-9 (live id u9): in the plan file"),
        "removed": ([], "+ update:user:E1 (live id u1): would run now, but is not"),
        "retargeted": ([retargeted], "~ update:user:E1: differs in live_id"),
        "duplicated": ([update, update], "! update:user:E1: appears more than once"),
    }
    for name, (actions, expected) in cases.items():
        found = [str(x) for x in compare_plans(with_actions(p, actions), p)]
        assert any(expected in line for line in found), (name, found)


def test_changed_values_are_named_with_both_sides():
    d, snap, st = managed_pair()
    p = plan(d, snap, st)
    now = plan(desired(spec("E1", "a@example.com", title="Boss"), spec("E2", "b@example.com")),
               snap, st)  # fmt: skip
    (diff,) = compare_plans(p, now)
    assert diff.fields == ("changes.title.after",)
    assert 'plan "Lead", now "Boss"' in str(diff)


def test_target_policy_and_state_are_compared_too():
    d, snap, st = managed_pair()
    p = plan(d, snap, st)
    tampered = edited(
        p,
        target={"provider": "genesys", "api_url": "https://evil.example", "login_url": "x"},
        policy={**p.policy.model_dump(), "hris_webhook": "https://evil.example/hook"},
        state={"lineage": "lin", "serial": 2},
    )
    lines = "\n".join(str(x) for x in compare_plans(tampered, p))
    assert "~ target: api_url" in lines and "evil.example" in lines
    assert "~ policy: hris_webhook" in lines
    assert "~ state: the plan was made against state lin serial 2" in lines


def test_new_action_fields_are_compared_without_code_changes():
    """Action documents are compared whole: a field nobody listed still counts."""
    d, snap, st = managed_pair()
    p = plan(d, snap, st)
    saved = p.model_dump(mode="json")
    now = p.model_dump(mode="json")
    saved["actions"][0]["effects"] = ["role_granted"]
    now["actions"][0]["effects"] = []
    from scimctl.plan.compare import compare_documents

    (diff,) = compare_documents(saved, now)
    assert diff.fields == ("effects",)


# -- policy, whatever the file says ------------------------------------------------


def test_delete_when_policy_says_deactivate_is_refused():
    d, snap, st = managed_pair()
    d = desired(spec("E1", "a@example.com"))  # E2 left the manifest
    p = plan(d, snap, st)
    assert [a.kind for a in p.actions] == ["deactivate"]
    as_delete = with_actions(
        p, [{**p.actions[0].model_dump(mode="json"), "kind": "delete", "changes": {}}]
    )
    (v,) = policy_violations(as_delete, d, snap, st)
    assert "a delete, but policy.deprovision is deactivate" in v
    assert policy_violations(p, d, snap, st) == []


def test_action_against_an_unmanaged_account_is_refused():
    d, snap, st = managed_pair()
    p = plan(d, snap, st)
    hostile = [
        {"id": "deactivate:user:HR-9", "kind": "deactivate", "resource": "user",
         "key": "HR-9", "live_id": "u9",
         "changes": {"active": {"before": True, "after": False}}},
        {**p.actions[0].model_dump(mode="json"), "live_id": "u9"},
        {"id": "remove_members:group:Sales", "kind": "remove_members", "resource": "group",
         "key": "Sales", "live_id": "g-Sales", "members": [{"id": "u9"}]},
    ]  # fmt: skip
    found = policy_violations(with_actions(p, hostile), d, snap, st)
    assert len(found) == 3, found
    assert "deactivate user HR-9 (live id u9): the account is not one scimctl manages" in found[0]
    assert "update user E1 (live id u9): the account is not one scimctl manages" in found[1]
    assert "removes member u9, whom scimctl does not manage" in found[2]


def test_denied_role_is_refused():
    d, snap, st = managed_pair()
    p = plan(d, snap, st)
    doc = p.actions[0].model_dump(mode="json")
    doc["changes"]["roles"] = {"before": ["Employee"], "after": ["Employee", "Master Admin"]}
    found = policy_violations(with_actions(p, [doc]), d, snap, st)
    assert found == [
        "update user E1 (live id u1): role 'Master Admin' grants 'authorization:grant:add', "
        "denied by policy pattern 'authorization:*'",
        "update user E1 (live id u1): role 'Master Admin' grants 'admin', "
        "denied by policy pattern 'admin'",
    ]


def test_deprovision_limit_counts_deactivation_through_adoption():
    users = [spec(f"E{i}", f"u{i}@example.com", active=False) for i in range(8)]
    d = desired(*users, policy=Policy(max_deprovision="5"))
    snap = snapshot(*(live(f"u{i}", f"u{i}@example.com", f"E{i}") for i in range(8)))
    p = plan(d, snap, state(), max_deprovision=100)
    assert {a.kind for a in p.actions} == {"adopt"}
    found = policy_violations(p, d, snap, state())
    assert found == [
        "8 deactivations and deletions (adoptions and updates included) exceed the limit of 5 "
        "from policy.max_deprovision (5 of 0 managed); if intended, apply with "
        "--max-deprovision 8"
    ]
    assert policy_violations(p, d, snap, state(), max_deprovision=8) == []


def test_check_reviewed_returns_the_recomputed_plan_or_names_everything():
    d, snap, st = managed_pair()
    p = edited(plan(d, snap, st), workspace=TARGET.workspace, target=target_document(TARGET))
    assert check_reviewed(p, now(d, snap, st), d, st).actions == p.actions
    action = Action(id="delete:user:HR-9", kind="delete", resource="user", key="HR-9",
                    live_id="u9", changes={"x": Change()})  # fmt: skip
    tampered = edited(p, actions=[*p.model_dump(mode="json")["actions"], action.model_dump()])
    with pytest.raises(PlanNotReviewed) as exc:
        check_reviewed(tampered, now(d, snap, st), d, st, source="plan.json")
    text = str(exc.value)
    assert text.startswith("refusing to apply plan.json")
    assert "delete user HR-9 (live id u9): the account is not one scimctl manages" in text
    assert "- delete:user:HR-9 (live id u9): in the plan file, but would not run now" in text


def test_a_plan_that_cannot_be_computed_now_is_refused_with_every_rule_the_file_breaks():
    from scimctl.errors import PlanRefused

    d, snap, st = managed_pair()
    p = now(d, snap, st).plan()
    action = Action(id="delete:user:HR-9", kind="delete", resource="user", key="HR-9",
                    live_id="u9", changes={"x": Change()})  # fmt: skip
    tampered = edited(p, actions=[*p.model_dump(mode="json")["actions"], action.model_dump()])
    refused = Recomputed(snap, PlanRefused("3 deactivations exceed the limit of 1"))
    with pytest.raises(PlanNotReviewed) as exc:
        check_reviewed(tampered, refused, d, st)
    text = str(exc.value)
    assert "delete user HR-9 (live id u9): the account is not one scimctl manages" in text
    assert "the plan computed now: 3 deactivations exceed the limit of 1" in text
    with pytest.raises(PlanRefused, match="exceed the limit of 1"):
        refused.plan()  # plan, with nothing to add, raises it as it came


def test_a_role_added_by_hand_that_breaks_a_conflict_rule_is_refused_by_name():
    import datetime as dt
    from dataclasses import replace

    from scimctl.model.governance import Exemption, Governance, RoleHold, Rule

    sod = Rule("SOD-1", "no agent supervises", "conflict",
               grants=(RoleHold("Agent"), RoleHold("Master Admin")))  # fmt: skip
    d, snap, st = managed_pair()
    d = replace(d, governance=Governance((sod,), (), dt.date(2026, 12, 5)))
    snap = replace(snap, users=(replace(snap.users[0], attrs={**snap.users[0].attrs,
                                                            "roles": ["Employee", "Agent"]}),
                                *snap.users[1:]))  # fmt: skip
    d = replace(d, users={**d.users, "E1": replace(d.users["E1"], attrs={
        **d.users["E1"].attrs, "roles": ["Employee", "Agent"]})})  # fmt: skip
    p = edited(plan(d, snap, st), workspace=TARGET.workspace, target=target_document(TARGET))
    assert policy_violations(p, d, snap, st) == []  # the reviewed plan keeps to the rule
    doc = p.actions[0].model_dump(mode="json")
    doc["changes"]["roles"] = {"before": ["Agent", "Employee"], "after": ["Agent", "Master Admin"]}
    tampered = with_actions(p, [doc])
    found = [v for v in policy_violations(tampered, d, snap, st) if "policy.rules" in v]
    assert found == ["policy.rules SOD-1: user E1 holds Agent and Master Admin"]
    with pytest.raises(PlanNotReviewed, match="policy.rules SOD-1: user E1 holds Agent"):
        check_reviewed(tampered, now(d, snap, st), d, st)
    # The file's own verdict is not trusted: emptying it changes nothing.
    assert found == [
        v
        for v in policy_violations(edited(tampered, governance=None), d, snap, st)
        if "policy.rules" in v
    ]
    # An exception in the manifest (not in the file) is what allows it, until it ends.
    ex = Exemption("SOD-1", "E1", "cover", dt.date(2026, 12, 10), "CFO")
    excepted = replace(d, governance=Governance((sod,), (ex,), dt.date(2026, 12, 5)))
    assert [v for v in policy_violations(tampered, excepted, snap, st) if "policy.rules" in v] == []
    later = replace(d, governance=Governance((sod,), (ex,), dt.date(2026, 12, 11)))
    assert [v for v in policy_violations(tampered, later, snap, st) if "policy.rules" in v] == [
        "policy.rules SOD-1: user E1 holds Agent and Master Admin; the exception ended 2026-12-10"
    ]
