"""Groups the manifest opts in to creating (``create: true``): plan, guard, graph, render.

The end-to-end run against scim2-server is in test_interop.py.
"""

from __future__ import annotations

import dataclasses
import textwrap

import pytest
import sqlalchemy as sa

from scimctl.apply.executor import Executor
from scimctl.apply.graph import build_graph
from scimctl.apply.guard import policy_violations
from scimctl.errors import ApiError, InputError, OutcomeUnknown
from scimctl.manifest import load_manifest
from scimctl.model import GroupSpec, LiveGroup, LiveUser, Snapshot
from scimctl.plan.model import Action, Plan
from scimctl.plan.redact import redact_plan
from scimctl.plan.render import render_text, summary_lines
from scimctl.plan.targets import select
from scimctl.state import tables
from scimctl.state.store import Store
from unit.test_diff import desired, live, plan, snapshot, spec, state

NEW = GroupSpec("Escalations", create=True)


def creatable(snap: Snapshot) -> Snapshot:
    """The snapshot of a service that lists a Group resource type (provider scim)."""
    return dataclasses.replace(snap, groups_creatable=True)


def two_in_a_new_group() -> Plan:
    d = desired(
        spec("E1", "a@example.com", ("Escalations",)),
        spec("E2", "b@example.com", ("Escalations",)),
        Escalations=NEW,
    )
    snap = creatable(snapshot(live("u1", "a@example.com", "E1")))
    return plan(d, snap, state(("E1", "u1", "a@example.com")))


def test_an_opted_in_missing_group_is_created_before_its_members_are_added():
    p = two_in_a_new_group()
    kinds = [(a.kind, a.key) for a in p.actions]
    assert kinds == [
        ("create", "E2"),
        ("create_group", "Escalations"),
        ("add_members", "Escalations"),
    ]
    create, add = p.actions[1], p.actions[2]
    assert create.id == "create_group:group:Escalations" and create.resource == "group"
    assert create.live_id is None and create.changes["displayName"].after == "Escalations"
    assert [e.kind for e in create.effects] == ["group_creation"]
    assert not create.needs_review  # an empty new group grants nothing by itself
    assert add.live_id is None and [m.key for m in add.members] == ["E1", "E2"]
    assert p.summary.counts["create_group"] == 1
    assert p.summary.effects["group_creation"] == 1
    assert p.memberships["Escalations"].id is None
    assert p.memberships["Escalations"].members == ["E1", "E2"]


def test_an_existing_group_is_not_created_again_whatever_the_manifest_says():
    d = desired(spec("E1", "a@example.com", ("Sales",)), Sales=GroupSpec("Sales", create=True))
    p = plan(d, creatable(snapshot(live("u1", "a@example.com", "E1"))))
    assert [a.kind for a in p.actions] == ["adopt", "add_members"]


def test_without_the_opt_in_a_missing_group_stays_an_error():
    d = desired(spec("E1", "a@example.com", ("Escalations",)), Escalations=GroupSpec("Escalations"))
    with pytest.raises(InputError) as info:
        plan(d, creatable(snapshot()))
    (problem,) = [str(p) for p in info.value.problems]
    assert "groups: group 'Escalations' does not exist in the directory" in problem
    assert "create: true" in problem


def test_the_opt_in_on_a_service_that_cannot_create_groups_is_an_error():
    d = desired(spec("E1", "a@example.com", ("Escalations",)), Escalations=NEW)
    with pytest.raises(InputError) as info:
        plan(d, snapshot())  # groups_creatable is False: Genesys, or no Group resource type
    (problem,) = [str(p) for p in info.value.problems]
    assert "groups.create: group 'Escalations' does not exist" in problem
    assert "cannot create groups" in problem


def test_genesys_refuses_the_opt_in_with_file_line_and_field(tmp_path):
    path = tmp_path / "scimctl.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            target: {region: mypurecloud.ie}
            groups:
              - name: Support
              - name: Escalations
                create: true
            """
        )
    )
    with pytest.raises(InputError) as info:
        load_manifest(path)
    (problem,) = [str(p) for p in info.value.problems]
    assert problem.startswith(f"{path}:5: groups.create: group 'Escalations': ")
    assert "Genesys Cloud cannot create groups through SCIM" in problem


def test_the_opt_in_moves_the_manifest_digest_and_its_absence_does_not(tmp_path):
    def digest(extra: str) -> str:
        path = tmp_path / "m.yaml"
        text = "version: 1\ntarget: {provider: scim, base_url: 'http://x/v2'}\n"
        path.write_text(text + "groups:\n  - name: Support\n" + extra)
        return load_manifest(path).digest

    assert digest("") == digest("    create: false\n")
    assert digest("") != digest("    create: true\n")


# -- apply's guard ---------------------------------------------------------------


def test_the_guard_accepts_a_group_create_only_with_the_opt_in():
    p = two_in_a_new_group()
    d = desired(
        spec("E1", "a@example.com", ("Escalations",)),
        spec("E2", "b@example.com", ("Escalations",)),
        Escalations=NEW,
    )
    snap = creatable(snapshot(live("u1", "a@example.com", "E1")))
    st = state(("E1", "u1", "a@example.com"))
    assert policy_violations(p, d, snap, st) == []

    opted_out = dataclasses.replace(d, groups={**d.groups, "Escalations": GroupSpec("Escalations")})
    found = policy_violations(p, opted_out, snap, st)
    assert len(found) == 2  # the create and the additions to the group it would create
    assert all("does not opt in to creating it (create: true)" in v for v in found)


def test_the_guard_refuses_creating_a_group_that_exists():
    p = two_in_a_new_group()
    d = desired(spec("E1", "a@example.com", ("Escalations",)), Escalations=NEW)
    snap = creatable(snapshot(live("u1", "a@example.com", "E1")))
    there = dataclasses.replace(
        snap, groups=(*snap.groups, dataclasses.replace(snap.groups[0], name="Escalations"))
    )
    found = policy_violations(p, d, there, state(("E1", "u1", "a@example.com")))
    assert any("create_group group Escalations: the group exists already" in v for v in found)


# -- apply's order, targeted plans, renderers -------------------------------------


def test_the_members_wait_for_the_group_create():
    nodes = build_graph(two_in_a_new_group())
    assert nodes["group:Escalations"].deps == {"create_group:group:Escalations", "create:user:E2"}
    assert nodes["create_group:group:Escalations"].deps == set()
    assert [a.kind for a in nodes["create_group:group:Escalations"].actions] == ["create_group"]


def test_a_targeted_membership_in_a_new_group_keeps_its_create():
    p = two_in_a_new_group()
    kept, _ = select(list(p.actions), {"E1"}, set())
    assert [(a.kind, a.key) for a in kept] == [
        ("add_members", "Escalations"),
        ("create_group", "Escalations"),
    ]


def test_renderers_name_the_new_group_with_the_right_number():
    p = two_in_a_new_group()
    lines = summary_lines(p)
    assert "1 group to create" in lines[0] and "1 new group" in lines[1]
    text = render_text(p)
    assert "+ create group 'Escalations'" in text
    second: Action = p.actions[1].model_copy(
        update={"key": "Night", "id": "create_group:group:Night"}
    )
    counts = {**p.summary.counts, "create_group": 2}
    effects = {**p.summary.effects, "group_creation": 2}
    two = p.model_copy(
        update={
            "actions": [*p.actions, second],
            "summary": p.summary.model_copy(update={"counts": counts, "effects": effects}),
        }
    )
    lines = summary_lines(two)
    assert "2 groups to create" in lines[0] and "2 new groups" in lines[1]


def test_a_redacted_plan_still_names_the_group_it_creates():
    p = redact_plan(two_in_a_new_group(), ["displayName", "userName"])
    create = p.actions[1]
    assert create.kind == "create_group"
    assert create.changes["displayName"].after == "Escalations"
    assert p.actions[0].changes["displayName"].after != "b"  # a user's is masked


# -- the executor, with a stand-in service ------------------------------------------


class Service:
    """What the executor asks of a client for these plans; ``answers`` scripts the
    group POSTs (a group, or an exception to raise)."""

    users_path, groups_path = "/Users", "/Groups"
    search_wait = conflict_wait = 0.0

    def __init__(self, *answers: LiveGroup | Exception) -> None:
        self.answers = list(answers)
        self.posts: list[str] = []
        self.patched: list[tuple[str, str | None]] = []
        self.exists: LiveGroup | None = None

    def create_group(self, name: str, **kw: object) -> LiveGroup:
        self.posts.append(name)
        answer = self.answers.pop(0)
        if isinstance(answer, OutcomeUnknown):
            self.exists = LiveGroup("g-new", name, frozenset(), '"1"')  # it landed
        if isinstance(answer, Exception):
            raise answer
        return answer

    def find_group(self, name: str, **kw: object) -> LiveGroup | None:
        return self.exists

    def create_user(self, body: dict, **kw: object) -> LiveUser:
        return LiveUser("u2", body["externalId"], {"userName": body["userName"]}, '"1"')

    def patch_group(self, group_id: str, body: dict, version: str | None, **kw: object) -> str:
        self.patched.append((group_id, version))
        return '"2"'


def run(service: Service, url: str) -> tuple[dict[str, str], Store]:
    p = two_in_a_new_group()
    store = Store(url)
    run_id = store.start_run(p.workspace, "apply", p.manifest_digest, p.digest)
    report = Executor(p, service, store, run_id, parallelism=1).run()  # type: ignore[arg-type]
    return {r.node: r.outcome for r in report.results}, store


def managed_groups(store: Store) -> dict[str, str]:
    """The groups state records as managed (read directly: this store has no apply row)."""
    with store.engine.connect() as conn:
        return {r.name: r.live_id for r in conn.execute(sa.select(tables.managed_groups))}


def test_members_go_to_the_group_just_created_and_state_records_it(sqlite_url):
    service = Service(LiveGroup("g-new", "Escalations", frozenset(), '"1"'))
    outcomes, store = run(service, sqlite_url)
    assert set(outcomes.values()) == {"ok"}
    assert service.patched == [("g-new", '"1"')]  # the create's id and version (If-Match)
    assert managed_groups(store) == {"Escalations": "g-new"}


def test_a_lost_create_reply_is_looked_up_not_sent_again(sqlite_url):
    service = Service(OutcomeUnknown("reply lost"))
    outcomes, _ = run(service, sqlite_url)
    assert set(outcomes.values()) == {"ok"}
    assert service.posts == ["Escalations"] and service.patched == [("g-new", '"1"')]


def test_a_failed_group_create_skips_its_members(sqlite_url):
    service = Service(ApiError("no", status=500))
    outcomes, store = run(service, sqlite_url)
    assert outcomes["create_group:group:Escalations"] == "failed"
    assert outcomes["group:Escalations"] == "skipped"
    assert outcomes["create:user:E2"] == "ok"
    assert service.patched == []
    assert managed_groups(store) == {}
