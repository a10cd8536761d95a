"""The executor's unknown-outcome and conflict paths, on the fakes and a fake clock.

An answer lost on the way back, search that lags behind a write, a 409, a 413 and a
version conflict are each driven through the executor against ``FakeDirectory``
and ``MemoryStore``; the clock is ``FakeClock``, so a lookup that would wait three
minutes against Genesys takes no time. Each test checks what an operator would:
the journal's result row, the state, the directory, the run's summary.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeClock, FakeDirectory, add_members, create, plan_of, update

from scimctl.apply import apply_plan
from scimctl.apply.executor import Executor
from scimctl.apply.results import ApplyReport
from scimctl.errors import ApiError, OutcomeUnknown
from scimctl.plan.model import Action, Change, Member, Plan
from scimctl.state.memory import MemoryStore

# ScimClient's own waits (scim/client.py): the fake clock makes them free.
SEARCH_WAIT, CONFLICT_WAIT = 2.0, 180.0


def directory() -> tuple[FakeDirectory, FakeClock]:
    clock = FakeClock()
    d = FakeDirectory(clock)
    d.search_wait, d.conflict_wait = SEARCH_WAIT, CONFLICT_WAIT
    return d, clock


def run(plan: Plan, d: FakeDirectory, clock: FakeClock) -> tuple[ApplyReport, MemoryStore]:
    store = MemoryStore()
    run_id = store.start_run(plan.workspace, "apply")
    executor = Executor(plan, d, store, run_id, parallelism=1, clock=clock, sleep=clock.sleep)
    return executor.run(), store


def result_row(store: MemoryStore, node: str) -> dict[str, Any]:
    (row,) = [r for r in store.operations if r["action_id"] == node and r["phase"] == "result"]
    return row


def accounts(d: FakeDirectory, key: str) -> list[str]:
    return [u.id for u in d.users.values() if u.external_id == key]


def posts(d: FakeDirectory, method: str = "create_user") -> int:
    return [m for m, _ in d.calls].count(method)


# -- a user create whose answer was lost ------------------------------------------------
def test_a_create_whose_answer_was_lost_is_found_not_sent_again() -> None:
    d, clock = directory()
    d.search_lag = 1.0  # search shows the new account a second after it was made
    d.lose_answer("create_user", "E1")
    group = d.add_group("Support")
    report, store = run(plan_of(create("E1"), add_members(group, "E1")), d, clock)
    assert report.ok, report.failed
    (new,) = accounts(d, "E1")
    assert posts(d) == 1
    row = result_row(store, "create:user:E1")
    assert (row["outcome"], row["resource_id"], row["error"]) == ("ok", new, None)
    assert row["attempts"] == 1 + [m for m, _ in d.calls].count("find_user")
    assert store.state("unit").users["E1"].id == new
    # The group waiting for the create got the account found.
    assert d.groups[group.id].members == {new}
    assert 1.0 <= clock.now <= SEARCH_WAIT


def test_a_create_never_found_fails_after_six_attempts_and_skips_its_dependents() -> None:
    d = FakeDirectory()  # apply_plan runs on the real clock: no lookup waits here
    lost = OutcomeUnknown("connection reset", method="POST")
    d.fail("create_user", "E1", lost, times=6)  # none of them reached the service
    store = MemoryStore()
    plan = plan_of(create("E1"), create("E2", manager="E1"))
    report = apply_plan(plan, d, store)  # type: ignore[arg-type]  # DirectoryWrites, not a ScimClient
    assert not report.ok
    assert posts(d) == 6 and accounts(d, "E1") == [] and accounts(d, "E2") == []
    row = result_row(store, "create:user:E1")
    assert row["outcome"] == "failed"
    assert row["error"] == "create outcome unknown after 6 attempts: connection reset"
    assert result_row(store, "create:user:E2")["outcome"] == "skipped"
    assert store.state("unit").users == {}
    (run_record,) = store.runs.values()
    assert run_record["outcome"] == "failed"
    assert (run_record["summary"]["failed"], run_record["summary"]["skipped"]) == (1, 1)


def test_the_lookups_after_a_lost_answer_wait_search_wait_with_backoff() -> None:
    d, clock = directory()
    d.fail("create_user", "E1", OutcomeUnknown("reset", method="POST"), times=6)
    report, _ = run(plan_of(create("E1")), d, clock)
    assert not report.ok
    # Six lookups of two seconds each, pausing with backoff up to the deadline.
    assert clock.slept == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.5] * 6)
    assert clock.now == pytest.approx(6 * SEARCH_WAIT)


def test_a_create_lost_twice_is_found_after_the_second_post() -> None:
    d, clock = directory()
    d.fail("create_user", "E1", OutcomeUnknown("reset before it arrived", method="POST"))
    d.lose_answer("create_user", "E1")  # the second one arrived; its answer did not
    report, store = run(plan_of(create("E1")), d, clock)
    assert report.ok, report.failed
    (new,) = accounts(d, "E1")
    assert posts(d) == 2
    assert result_row(store, "create:user:E1")["resource_id"] == new
    assert store.state("unit").users["E1"].id == new


# -- 409 -------------------------------------------------------------------------------
def test_a_409_after_a_lost_answer_is_our_own_create_looked_up_until_search_shows_it() -> None:
    d, clock = directory()
    d.search_lag = 30.0  # longer than search_wait: the second POST is sent, and refused
    d.lose_answer("create_user", "E1")
    report, store = run(plan_of(create("E1")), d, clock)
    assert report.ok, report.failed
    (new,) = accounts(d, "E1")
    assert posts(d) == 2  # the second answered 409: the name is our own first try's
    assert store.state("unit").users["E1"].id == new
    assert result_row(store, "create:user:E1")["outcome"] == "ok"
    assert SEARCH_WAIT < clock.now < CONFLICT_WAIT


def test_a_409_for_a_name_someone_else_holds_fails_naming_the_account() -> None:
    d, clock = directory()
    holder = d.add_user("OTHER", "e1@example.com")
    report, store = run(plan_of(create("E1"), create("E2", manager="E1")), d, clock)
    row = result_row(store, "create:user:E1")
    assert (row["outcome"], row["status"]) == ("failed", 409)
    assert row["error"] == (
        f"userName e1@example.com is taken by live account {holder.id} "
        "(externalId OTHER); the next plan shows it"
    )
    assert result_row(store, "create:user:E2")["outcome"] == "skipped"
    assert clock.now == 0.0  # nothing was lost: no waiting for search
    assert "E1" not in store.state("unit").users and not report.ok


def new_group(name: str) -> Action:
    return Action(
        id=f"create_group:group:{name}", kind="create_group", resource="group", key=name,
        changes={"displayName": Change(after=name)},
    )  # fmt: skip


def test_a_group_create_whose_answer_was_lost_is_found_by_name() -> None:
    d, clock = directory()
    d.search_lag = 0.5
    d.lose_answer("create_group", "Escalations")
    member = d.add_user("E5", "e5@example.com")
    members = Action(
        id="add_members:group:Escalations", kind="add_members", resource="group",
        key="Escalations", members=[Member(key="E5", id=member.id)],
    )  # fmt: skip
    report, store = run(plan_of(new_group("Escalations"), members), d, clock)
    assert report.ok, report.failed
    (group,) = d.groups.values()
    assert posts(d, "create_group") == 1 and group.members == {member.id}
    assert result_row(store, "create_group:group:Escalations")["resource_id"] == group.id
    assert result_row(store, "group:Escalations")["outcome"] == "ok"


def test_a_group_created_since_the_plan_fails_the_create_and_skips_its_members() -> None:
    d, clock = directory()
    d.add_group("Escalations")
    members = Action(
        id="add_members:group:Escalations", kind="add_members", resource="group",
        key="Escalations", members=[Member(key="E5", id="u-E5")],
    )  # fmt: skip
    report, store = run(plan_of(new_group("Escalations"), members), d, clock)
    row = result_row(store, "create_group:group:Escalations")
    assert (row["outcome"], row["status"]) == ("failed", 409)
    assert "created since the plan was made; run plan again" in row["error"]
    assert result_row(store, "group:Escalations")["outcome"] == "skipped"
    assert len(d.groups) == 1 and not report.ok


# -- 413 --------------------------------------------------------------------------------
def test_a_413_halves_the_member_chunks_for_the_rest_of_the_run() -> None:
    d, clock = directory()
    d.max_patch_members = 3
    users = [d.add_user(f"E{i}", f"e{i}@example.com") for i in range(8)]
    sales, support = d.add_group("Sales"), d.add_group("Support")
    live = {u.external_id or "": u.id for u in users}
    plan = plan_of(
        add_members(sales, *live, live=live), add_members(support, *list(live)[:4], live=live)
    )
    report, store = run(plan, d, clock)
    assert report.ok, report.failed
    assert d.groups[sales.id].members == set(live.values())
    assert d.groups[support.id].members == {u.id for u in users[:4]}
    # Sales: 8 refused, 4 refused, then 2+2+2+2; Support straight away in pairs.
    assert [t for m, t in d.calls] == [sales.id] * 6 + [support.id] * 2
    assert result_row(store, "group:Sales")["outcome"] == "ok"
    assert store.state("unit").memberships == {
        *(("Sales", k) for k in live),
        *(("Support", k) for k in list(live)[:4]),
    }


# -- version conflicts on a user write ----------------------------------------------------
def test_a_stale_version_with_unchanged_attributes_is_sent_again_with_the_current_one() -> None:
    d, clock = directory()
    user = d.add_user("E1", "e1@example.com", title="Agent")
    action = update(user, title="Lead")
    d.change(user.id)  # a new version, nothing the plan changes: a lagging listing's
    report, store = run(plan_of(action), d, clock)
    assert report.ok, report.failed
    assert d.users[user.id].attrs["title"] == "Lead"
    assert [m for m, _ in d.calls] == ["patch_user", "get_user", "patch_user"]
    assert store.state("unit").users["E1"].version == d.users[user.id].version == "3"
    assert result_row(store, "update:user:E1")["attempts"] == 3


def test_a_change_made_since_the_plan_fails_the_write_and_keeps_the_other_writers_value() -> None:
    d, clock = directory()
    user = d.add_user("E1", "e1@example.com", title="Agent")
    action = update(user, title="Lead")
    d.change(user.id, title="Supervisor")  # someone else changed what the plan changes
    report, store = run(plan_of(action), d, clock)
    row = result_row(store, "update:user:E1")
    assert row["outcome"] == "failed" and row["status"] == 412
    assert "the resource changed since the plan was made" in row["error"]
    assert row["error"].endswith("run plan again")
    assert d.users[user.id].attrs["title"] == "Supervisor"
    assert "E1" not in store.state("unit").users and not report.ok


def test_a_patch_that_landed_before_its_conflict_is_done_not_sent_again() -> None:
    d, clock = directory()
    user = d.add_user("E1", "e1@example.com", title="Agent")
    # The transport's retry of a landed PATCH meets the version the first one made.
    d.lose_answer("patch_user", user.id, ApiError("stale version", status=412))
    report, store = run(plan_of(update(user, title="Lead")), d, clock)
    assert report.ok, report.failed
    assert [m for m, _ in d.calls] == ["patch_user", "get_user"]
    assert store.state("unit").applied["E1"]["title"] == "Lead"
    assert store.state("unit").users["E1"].version == "2"


def test_a_writer_that_keeps_changing_the_account_wins_after_three_tries() -> None:
    d, clock = directory()
    user = d.add_user("E1", "e1@example.com", title="Agent")
    seen = {"patches": 0}

    def another_writer(method: str, target: str) -> None:
        if method == "patch_user":
            seen["patches"] += 1
            d.change(user.id)  # a new version before each of our PATCHes lands

    d.before_call = another_writer
    report, store = run(plan_of(update(user, title="Lead")), d, clock)
    assert not report.ok and seen["patches"] == 3
    assert result_row(store, "update:user:E1")["status"] == 412
    assert d.users[user.id].attrs["title"] == "Agent"
