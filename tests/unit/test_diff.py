"""The pure plan engine: every action and rule, without a server."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimctl.errors import InputError, PlanRefused
from scimctl.model import (
    Desired,
    GroupSpec,
    LiveGroup,
    LiveRole,
    LiveUser,
    ManagedUser,
    Policy,
    Snapshot,
    StateView,
    UserSpec,
)
from scimctl.plan.diff import compute_plan
from scimctl.plan.model import Plan

ROLES = (
    LiveRole("r-emp", "Employee", ("directory:user:view",)),
    LiveRole("r-agent", "Agent", ("routing:agent:view",)),
    LiveRole("r-admin", "Master Admin", ("authorization:grant:add", "admin")),
)
GROUPS = {
    "Support": GroupSpec("Support"),
    "Tier1": GroupSpec("Tier1", parent="Support"),
    "Sales": GroupSpec("Sales"),
}


def spec(key: str, name: str, groups: tuple[str, ...] = (), **attrs: Any) -> UserSpec:
    base = {
        "userName": name,
        "displayName": name.split("@")[0],
        "active": True,
        "roles": ["Employee"],
    }
    return UserSpec(key, {**base, **attrs}, groups)


def live(
    uid: str, name: str, ext: str | None = None, version: str = '"1"', **attrs: Any
) -> LiveUser:
    base = {
        "userName": name,
        "displayName": name.split("@")[0],
        "active": True,
        "roles": ["Employee"],
    }
    return LiveUser(uid, ext, {**base, **attrs}, version)


def groups(**members: set[str]) -> tuple[LiveGroup, ...]:
    out = []
    for name in ("Support", "Tier1", "Sales"):
        out.append(LiveGroup(f"g-{name}", name, frozenset(members.get(name, set())), '"1"'))
    return tuple(out)


def desired(*users: UserSpec, policy: Policy | None = None, **group_specs: GroupSpec) -> Desired:
    return Desired({u.key: u for u in users}, {**GROUPS, **group_specs}, policy or Policy())


def plan(d: Desired, snap: Snapshot, state: StateView | None = None, **kw: Any) -> Plan:
    return compute_plan(
        d,
        snap,
        state or StateView.empty(),
        workspace="test",
        target={"provider": "genesys", "api_url": "http://x", "login_url": "http://x"},
        manifest_digest="sha256:0",
        **kw,
    )


def snapshot(*users: LiveUser, **members: set[str]) -> Snapshot:
    return Snapshot(tuple(users), groups(**members), ROLES)


def state(*pairs: tuple[str, str, str], serial: int = 3) -> StateView:
    return StateView("lin", serial, {k: ManagedUser(i, n) for k, i, n in pairs})


def kinds(p: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.key) for a in p.actions]


def test_create_with_membership_flattened_up_the_hierarchy():
    p = plan(desired(spec("E1", "a@example.com", ("Tier1",))), snapshot())
    assert kinds(p) == [
        ("create", "E1"),
        ("add_members", "Support"),
        ("add_members", "Tier1"),
    ]
    assert p.actions[0].changes["userName"].after == "a@example.com"
    assert p.actions[1].members[0].key == "E1" and p.actions[1].members[0].id is None


def test_match_by_state_id_even_after_rename():
    d = desired(spec("E1", "new@example.com"))
    s = snapshot(live("u1", "old@example.com", "E1"))
    p = plan(d, s, state(("E1", "u1", "old@example.com")))
    (action,) = p.actions
    assert action.kind == "update" and action.live_id == "u1" and action.version == '"1"'
    assert action.changes["userName"].before == "old@example.com"
    assert action.changes["userName"].after == "new@example.com"


def test_adopt_by_external_id_and_by_username_case_insensitively():
    d = desired(spec("E1", "a@example.com"), spec("E2", "B@Example.com", title="Agent"))
    s = snapshot(live("u1", "a@example.com", "E1"), live("u2", "b@example.com", None))
    p = plan(d, s)
    assert kinds(p) == [("adopt", "E1"), ("adopt", "E2")]
    assert p.actions[0].changes == {}
    assert p.actions[1].changes["externalId"].after == "E2"
    assert p.actions[1].changes["title"].after == "Agent"
    assert "userName" not in p.actions[1].changes, "case alone is not a change"


def test_inactive_live_user_is_reactivated_never_created_again():
    d = desired(spec("E1", "a@example.com"))
    s = snapshot(live("u1", "a@example.com", "E1", active=False))
    p = plan(d, s, state(("E1", "u1", "a@example.com")))
    assert kinds(p) == [("reactivate", "E1")]
    assert p.actions[0].changes["active"].after is True


def test_inactive_user_that_should_stay_inactive_is_left_alone():
    d = desired(spec("E1", "a@example.com", active=False))
    s = snapshot(live("u1", "a@example.com", "E1", active=False))
    assert plan(d, s, state(("E1", "u1", "a@example.com"))).actions == []


def test_desired_inactive_deactivates():
    d = desired(spec("E1", "a@example.com", active=False))
    s = snapshot(live("u1", "a@example.com", "E1"))
    assert kinds(plan(d, s, state(("E1", "u1", "a@example.com")))) == [("deactivate", "E1")]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("deactivate", [("deactivate", "E2")]), ("delete", [("delete", "E2")]), ("ignore", [])],
)
def test_deprovision_by_policy(policy, expected):
    d = desired(spec("E1", "a@example.com"), policy=Policy(deprovision=policy, max_deprovision="1"))
    s = snapshot(live("u1", "a@example.com", "E1"), live("u2", "b@example.com", "E2"))
    st_ = state(("E1", "u1", "a@example.com"), ("E2", "u2", "b@example.com"))
    p = plan(d, s, st_)
    assert kinds(p) == expected
    if expected:
        assert "removed from the manifest" in (p.actions[0].reason or "")


def test_deprovision_removes_memberships_first_and_forgets_vanished_users():
    d = desired(spec("E1", "a@example.com"), policy=Policy(max_deprovision="5"))
    s = snapshot(live("u1", "a@example.com", "E1"), live("u2", "b@example.com", "E2"), Sales={"u2"})
    st_ = state(
        ("E1", "u1", "a@example.com"), ("E2", "u2", "b@example.com"), ("E3", "u3", "c@x.io")
    )
    p = plan(d, s, st_)
    assert kinds(p) == [("remove_members", "Sales"), ("deactivate", "E2"), ("forget", "E3")]


def test_unmanaged_users_and_members_are_left_alone_and_counted():
    d = desired(spec("E1", "a@example.com", ("Sales",)))
    s = snapshot(live("u1", "a@example.com", "E1"), live("x", "it@example.com"), Sales={"u1", "x"})
    p = plan(d, s, state(("E1", "u1", "a@example.com")))
    assert p.actions == []
    assert p.summary.unmanaged_users == 1
    assert p.summary.unmanaged_members == 1


def test_authoritative_group_removes_unmanaged_members():
    d = desired(
        spec("E1", "a@example.com", ("Sales",)), Sales=GroupSpec("Sales", authoritative=True)
    )
    s = snapshot(live("u1", "a@example.com", "E1"), live("x", "it@example.com"), Sales={"u1", "x"})
    p = plan(d, s, state(("E1", "u1", "a@example.com")))
    assert kinds(p) == [("remove_members", "Sales")]
    assert [(m.id, m.userName) for m in p.actions[0].members] == [("x", "it@example.com")]


def test_managed_user_leaving_a_group_is_removed_from_it():
    d = desired(spec("E1", "a@example.com", ("Sales",)))
    s = snapshot(live("u1", "a@example.com", "E1"), Support={"u1"}, Sales={"u1"})
    p = plan(d, s, state(("E1", "u1", "a@example.com")))
    assert kinds(p) == [("remove_members", "Support")]


def test_max_deprovision_guard_and_override():
    d = desired(spec("E1", "u1@example.com"), policy=Policy(max_deprovision="10%"))
    users = [live(f"u{i}", f"u{i}@example.com", f"E{i}") for i in range(1, 21)]
    st_ = state(*[(f"E{i}", f"u{i}", f"u{i}@example.com") for i in range(1, 21)])
    with pytest.raises(PlanRefused, match=r"19 users: the limit is 2.*--max-deprovision 19"):
        plan(d, snapshot(*users), st_)
    assert len(plan(d, snapshot(*users), st_, max_deprovision=19).actions) == 19


def test_directory_validation_reports_everything_at_once():
    d = desired(
        spec("E1", "a@example.com", roles=["Employee", "Ghost"]),
        spec("E2", "b@example.com", roles=["Master Admin"]),
        spec("E3", "it@example.com"),
        Missing=GroupSpec("Missing"),
    )
    s = snapshot(live("x", "it@example.com", "HR-OTHER"))
    with pytest.raises(InputError) as info:
        plan(d, s)
    text = str(info.value)
    assert "role 'Ghost' does not exist" in text and "a@example.com" in text
    assert (
        "role 'Master Admin' grants 'authorization:grant:add', "
        "denied by policy pattern 'authorization:*'" in text
    )
    assert "grants 'admin'" in text and "b@example.com" in text
    assert "group 'Missing' does not exist" in text
    assert "belongs to live user x with externalId 'HR-OTHER'" in text


def test_plans_are_deterministic():
    d = desired(*(spec(f"E{i}", f"u{i}@example.com", ("Tier1", "Sales")) for i in range(20)))
    s = snapshot(*(live(f"u{i}", f"u{i}@example.com", f"E{i}") for i in range(0, 20, 3)))
    assert plan(d, s).to_json() == plan(d, s).to_json()


# -- property: applying a plan reaches the desired state, and replanning is a no-op ----


def simulate(p: Plan, snap: Snapshot, st_: StateView) -> tuple[Snapshot, StateView]:
    """What a perfect apply does to the directory and the state."""
    users = {u.id: u for u in snap.users}
    members = {g.name: set(g.members) for g in snap.groups}
    managed = dict(st_.users)
    for a in p.actions:
        if a.kind == "create":
            uid = f"new-{a.key}"
            users[uid] = LiveUser(uid, a.key, dict(a.after), '"1"')
            managed[a.key] = ManagedUser(uid, a.after["userName"])
        elif a.kind in ("adopt", "update", "reactivate", "deactivate"):
            assert a.live_id is not None
            u = users[a.live_id]
            attrs = {**u.attrs, **{k: v for k, v in a.after.items() if k != "externalId"}}
            ext = a.after.get("externalId", u.external_id)
            users[u.id] = replace(u, attrs=attrs, external_id=ext)
            managed[a.key] = ManagedUser(u.id, attrs["userName"])
        elif a.kind == "delete":
            assert a.live_id is not None
            del users[a.live_id]
            managed.pop(a.key)
            for m in members.values():
                m.discard(a.live_id)
        elif a.kind == "forget":
            managed.pop(a.key)
        elif a.kind == "add_members":
            members[a.key] |= {m.id or managed[str(m.key)].id for m in a.members}
        elif a.kind == "remove_members":
            members[a.key] -= {m.id for m in a.members}
    new_groups = tuple(replace(g, members=frozenset(members[g.name])) for g in snap.groups)
    return (
        Snapshot(tuple(users.values()), new_groups, snap.roles),
        StateView(st_.lineage, st_.serial + 1, managed),
    )


names = st.sampled_from([f"p{i}@example.com" for i in range(8)])
keys = st.sampled_from([f"K{i}" for i in range(8)])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Desired, Snapshot, StateView]:
    live_users: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 6))):
        name = draw(names)
        if any(u.user_name == name for u in live_users.values()):
            continue
        ext = draw(st.one_of(st.none(), keys))
        if ext and any(u.external_id == ext for u in live_users.values()):
            ext = None
        live_users[f"u{i}"] = live(
            f"u{i}",
            name,
            ext,
            active=draw(st.booleans()),
            title=draw(st.sampled_from([None, "A", "B"])),
        )
    managed = {}
    for u in live_users.values():
        if u.external_id and draw(st.booleans()):
            managed[u.external_id] = ManagedUser(u.id, u.user_name)
    wanted: dict[str, UserSpec] = {}
    used_names = set()
    for _ in range(draw(st.integers(0, 6))):
        key, name = draw(keys), draw(names)
        if key in wanted or name in used_names:
            continue
        holder = next((u for u in live_users.values() if u.user_name == name), None)
        if holder and holder.external_id not in (None, key):
            continue  # a takeover is a validation error, tested above
        if holder and any(m.id == holder.id for k, m in managed.items() if k != key):
            continue
        own = managed.get(key) or next(
            (u for u in live_users.values() if u.external_id == key), None
        )
        if own and holder and own.id != holder.id:
            continue
        used_names.add(name)
        groups_ = tuple(draw(st.lists(st.sampled_from(list(GROUPS)), max_size=2, unique=True)))
        wanted[key] = spec(
            key, name, groups_, active=draw(st.booleans()), title=draw(st.sampled_from(["A", "B"]))
        )
    members = {
        g: set(draw(st.lists(st.sampled_from(sorted(live_users) or ["none"]), max_size=3)))
        & set(live_users)
        for g in GROUPS
    }
    d = desired(*wanted.values(), policy=Policy(max_deprovision="100%", deprovision="deactivate"))
    return d, snapshot(*live_users.values(), **members), StateView("lin", 1, managed)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_applying_a_plan_reaches_the_desired_state_and_replanning_is_a_no_op(world):
    d, snap, st_ = world
    # Adoptions that deactivate count against the limit too; limits are tested above.
    first = plan(d, snap, st_, max_deprovision=100)
    after, new_state = simulate(first, snap, st_)
    by_ext = {u.external_id: u for u in after.users if u.external_id}
    for key, s in d.users.items():
        u = by_ext[key]
        for attr, value in s.attrs.items():
            assert u.attrs[attr] == value or (
                attr == "userName" and u.attrs[attr].lower() == value.lower()
            )
        groups_ = {g.name: g.members for g in after.groups}
        for g in s.groups:
            assert u.id in groups_[g]
            if parent := GROUPS[g].parent:
                assert u.id in groups_[parent]
    second = plan(d, after, new_state)
    assert second.actions == [], second.actions


# -- effects: what each action does to access ------------------------------------------

EXTRA_ROLES = (
    *ROLES,
    LiveRole("r-uadmin", "User Admin", ("directory:user:add", "directory:user:view")),
    LiveRole("r-dir", "Directory Wildcard", ("directory:*:*",)),
    LiveRole("r-sup", "Supervisor", ("routing:queue:view",)),
)


def with_roles(*users: LiveUser, **members: set[str]) -> Snapshot:
    return Snapshot(tuple(users), groups(**members), EXTRA_ROLES)


def effects(p: Plan, key: str) -> list[tuple[str, str | None, bool]]:
    (action,) = [a for a in p.actions if a.key == key]
    return [(e.kind, e.subject, e.privileged) for e in action.effects]


def test_an_adoption_that_deactivates_is_a_deactivation_and_needs_review():
    d = desired(spec("E1", "a@example.com", active=False), policy=Policy(max_deprovision="1"))
    p = plan(d, with_roles(live("u1", "a@example.com", "E1")))
    assert kinds(p) == [("adopt", "E1")]
    assert effects(p, "E1") == [("adoption", None, False), ("deactivation", None, False)]
    assert p.actions[0].needs_review
    assert p.summary.effects["deactivation"] == 1
    assert p.summary.through_adoption["deactivation"] == 1
    assert p.summary.effects["adoption"] == 1 and p.summary.through_adoption["adoption"] == 0


def test_max_deprovision_counts_deactivations_through_adoption():
    # Reproduces issue 8: 8 adopted accounts going active true -> false passed a limit of 5.
    d = desired(
        *(spec(f"E{i}", f"u{i}@example.com", active=False) for i in range(8)),
        policy=Policy(max_deprovision="5"),
    )
    s = with_roles(*(live(f"u{i}", f"u{i}@example.com", f"E{i}") for i in range(8)))
    with pytest.raises(
        PlanRefused, match=r"8 users \(8 through adoption\): the limit is 5.*--max-deprovision 8"
    ):
        plan(d, s)
    assert plan(d, s, max_deprovision=8).summary.effects["deactivation"] == 8


@pytest.mark.parametrize(
    ("role", "privileged"),
    [("User Admin", True), ("Directory Wildcard", True), ("Supervisor", False)],
)
def test_privileged_roles_are_those_that_grant_privileged_permissions(role, privileged):
    d = desired(spec("E1", "a@example.com", roles=["Employee", role]))
    p = plan(d, with_roles())
    assert ("role_granted", role, privileged) in effects(p, "E1")
    assert ("role_granted", "Employee", False) in effects(p, "E1")
    # A new account's ordinary roles are part of creating it; a privileged one is not.
    assert p.actions[0].needs_review is privileged
    assert p.summary.effects["privileged_role_granted"] == (1 if privileged else 0)
    assert p.summary.effects["role_granted"] == (1 if privileged else 2)


def test_policy_deny_patterns_also_make_a_role_privileged():
    d = desired(
        spec("E1", "a@example.com", roles=["Employee"]),
        policy=Policy(deny_permissions=("routing:queue:*",)),
    )
    s = with_roles(live("u1", "a@example.com", "E1", roles=["Employee", "Supervisor"]))
    p = plan(d, s, state(("E1", "u1", "a@example.com")))
    assert effects(p, "E1") == [("role_removed", "Supervisor", True)]


def test_existing_accounts_changing_access_need_review_and_attribute_edits_do_not():
    d = desired(
        spec("E1", "renamed@example.com"),
        spec("E2", "b@example.com", roles=["Employee", "Agent"]),
        spec("E3", "c@example.com", title="Lead"),
        spec("E4", "d@example.com"),
    )
    s = with_roles(
        live("u1", "a@example.com", "E1"),
        live("u2", "b@example.com", "E2"),
        live("u3", "c@example.com", "E3"),
        live("u4", "d@example.com", "E4", active=False),
        Sales={"u3"},
    )
    st_ = state(*[(f"E{i}", f"u{i}", n) for i, n in enumerate("abcd", 1)])
    p = plan(d, s, st_)
    assert effects(p, "E1") == [("username_change", None, False)]
    assert effects(p, "E2") == [("role_granted", "Agent", False)]
    assert effects(p, "E3") == []
    assert effects(p, "E4") == [("reactivation", None, False)]
    assert effects(p, "Sales") == [("group_removal", "c@example.com", False)]
    review = {a.key for a in p.actions if a.needs_review}
    assert review == {"E1", "E2", "E4", "Sales"}
    assert p.summary.effects == {
        "deletion": 0, "deactivation": 0, "reactivation": 1, "privileged_role_granted": 0,
        "role_granted": 1, "role_removed": 0, "grant_removed": 0, "grant_added": 0,
        "group_removal": 1, "username_change": 1,
        "rekey": 0, "adoption": 0, "restore": 0, "release": 0, "reverts_drift": 0,
        "group_creation": 0,
    }  # fmt: skip


def test_deletion_is_an_effect_and_counts_against_the_limit():
    d = desired(spec("E1", "a@example.com"), policy=Policy(deprovision="delete"))
    s = with_roles(live("u1", "a@example.com", "E1"), live("u2", "b@example.com", "E2"))
    st_ = state(("E1", "u1", "a@example.com"), ("E2", "u2", "b@example.com"))
    with pytest.raises(PlanRefused, match=r"deactivate or delete 1 user: the limit is 0"):
        plan(d, s, st_, max_deprovision=0)
    p = plan(d, s, st_, max_deprovision=1)
    assert effects(p, "E2") == [("deletion", None, False)]
