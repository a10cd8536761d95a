"""Unit tests of the executor, its dependency graph and quarantine, on in-memory fakes.

No emulator, no database, no HTTP: a ``FakeDirectory`` that can be told to fail one
call and a ``MemoryStore`` whose journal, state and outbox are plain values. Each
test runs in milliseconds; the end-to-end behaviour stays covered by test_apply.py.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import (
    FakeDirectory,
    add_members,
    create,
    deactivate,
    plan_of,
    remove_members,
    update,
)

from scimctl.apply import apply_plan
from scimctl.apply.context import DirectoryWrites
from scimctl.apply.executor import Executor
from scimctl.apply.graph import build_graph
from scimctl.apply.results import ApplyReport
from scimctl.apply.schedule import QUARANTINE_MIN
from scimctl.errors import ApiError, LockError, StaleState
from scimctl.model import ManagedUser, StateView
from scimctl.plan.model import Plan
from scimctl.scim.client import ScimClient
from scimctl.state import Store
from scimctl.state.interfaces import (
    ApplyStore,
    AuditLog,
    ExecutorStore,
    Journal,
    Locker,
    LockInfo,
    ManagedRecords,
    MetricsReader,
    Outbox,
    OutboxReader,
    StateStore,
    Transactions,
)
from scimctl.state.memory import MemoryStore

PROTOCOLS = (
    Transactions, StateStore, Locker, Journal, Outbox, ExecutorStore, ApplyStore, OutboxReader,
    AuditLog,
)  # fmt: skip
# Read sides only the SQL store has (state show, the Prometheus export).
SQL_ONLY = (ManagedRecords, MetricsReader)


def run(
    plan: Plan,
    directory: FakeDirectory,
    store: MemoryStore | None = None,
    *,
    parallelism: int = 4,
    outbox: bool = False,
) -> tuple[ApplyReport, MemoryStore]:
    store = store or MemoryStore()
    run_id = store.start_run(plan.workspace, "apply")
    report = Executor(plan, directory, store, run_id, parallelism=parallelism, outbox=outbox).run()
    return report, store


def outcomes(report: ApplyReport) -> dict[str, str]:
    return {r.node: r.outcome for r in report.results}


# -- the interfaces -------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS + SQL_ONLY, ids=lambda p: p.__name__)
def test_the_sql_store_and_the_fake_satisfy_every_protocol(tmp_path, protocol):
    sql = Store(f"sqlite:///{tmp_path / 'state.db'}")
    # The read sides of one reader each are handed over as the SQL part itself.
    part = {AuditLog: sql.audit, MetricsReader: sql.telemetry}.get(protocol, sql)
    try:
        for store in (part, MemoryStore()) if protocol in PROTOCOLS else (part,):
            assert isinstance(store, protocol)
            # isinstance checks names only: the parameters must match too.
            for name, member in vars(protocol).items():
                if name.startswith("_") or not callable(member):
                    continue
                wanted = list(inspect.signature(member).parameters)[1:]  # without self
                got = list(inspect.signature(getattr(store, name)).parameters)
                assert got == wanted, f"{type(store).__name__}.{name}"
    finally:
        sql.close()


def test_both_stores_run_the_same_apply_through_the_interface(tmp_path) -> None:
    """The SQL store and the fake, each handed over as an ApplyStore (annotations a type
    checker reads), give the same answers to the same apply: serial, rows, lock."""

    def as_directory(client: ScimClient) -> DirectoryWrites:
        return client

    def as_apply_store(store: Store) -> ApplyStore:
        return store

    def as_readers(store: Store) -> tuple[AuditLog, MetricsReader, ManagedRecords, OutboxReader]:
        return store.audit, store.telemetry, store, store

    def apply_once(store: ApplyStore) -> tuple[object, ...]:
        _, serial = store.begin_apply("ws", "", 0)
        run_id = store.start_run("ws", "apply")
        with store.lock("ws", run_id), store.tx() as conn:
            store.put_user(conn, "ws", "E1", "id-1", "jane@example.com", {"title": "Lead"}, "1")
            held = store.lock_holder("ws")
        store.finish_run(run_id, "succeeded")
        view = store.state("ws")
        return serial, view.users, view.applied, held is not None, store.lock_holder("ws")

    executor_store: ExecutorStore = MemoryStore()
    assert isinstance(executor_store, MemoryStore)
    sql = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        expected = (
            1,
            {"E1": ManagedUser("id-1", "jane@example.com", "1")},
            {"E1": {"title": "Lead"}},
            True,
            None,
        )
        assert apply_once(as_apply_store(sql)) == apply_once(executor_store) == expected
        audit, _, records, _ = as_readers(sql)
        assert [r["outcome"] for r in audit.find_runs(kind="apply")] == ["succeeded"]
        assert [r["key"] for r in records.managed_user_rows("ws")] == ["E1"]
    finally:
        sql.close()
    del as_directory  # for the type checker only: the real client is a DirectoryWrites


def test_the_lock_holder_is_typed_from_the_sql_lock_row(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        run_id = store.start_run("ws", "apply")
        with store.lock("ws", run_id):
            info = store.lock_holder("ws")
        assert store.lock_holder("ws") is None
    finally:
        store.close()
    assert info is not None and info.id == run_id and info.operation == "apply"
    assert info.workspace == "ws" and info.pid is not None and info.host
    assert info.holder.endswith(f"@{info.host} pid {info.pid}")


def test_lock_info_names_its_holder_from_fields():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    info = LockInfo("r", "ws", "ci", "apply", at, host="runner-1", pid=42)
    assert info.holder == "ci@runner-1 pid 42"
    assert info.describe() == "ci@runner-1 pid 42 since 2026-01-01T00:00:00Z (run r)"
    assert LockInfo(None, "ws", "someone", None, at).holder == "someone"


def test_the_memory_lock_refuses_a_second_holder():
    store = MemoryStore()
    with store.lock("ws", store.start_run("ws", "apply")):
        holder = store.lock_holder("ws")
        assert holder is not None and holder.operation == "apply"
        with pytest.raises(LockError, match="is locked by .* since .* \\(run "), store.lock("ws"):
            pass
    assert store.lock_holder("ws") is None


def test_a_memory_transaction_that_raises_leaves_nothing():
    store = MemoryStore()
    with pytest.raises(RuntimeError), store.tx() as conn:
        store.put_user(conn, "ws", "E1", "u1", "e1@example.com", {}, "1")
        store.append_operation(conn, {"action_id": "x"})
        store.add_event(conn, "ws", "r", {})
        raise RuntimeError
    assert store.state("ws").users == {} and store.operations == [] and store.events == []


# -- the graph ------------------------------------------------------------------------
def test_graph_orders_creates_memberships_deactivations_and_managers():
    d = FakeDirectory()
    leaver = d.add_user("E9", "e9@example.com")
    sales, support = d.add_group("Sales", (leaver.id,)), d.add_group("Support")
    plan = plan_of(
        create("E1"),
        create("E2", manager="E1"),
        add_members(support, "E1", "E2"),
        remove_members(sales, leaver),
        deactivate(leaver),
    )
    nodes = build_graph(plan)
    assert nodes["group:Support"].deps == {"create:user:E1", "create:user:E2"}
    assert nodes["deactivate:user:E9"].deps == {"group:Sales"}
    assert nodes["create:user:E2"].deps == {"create:user:E1"}
    assert nodes["create:user:E1"].dependents == {"create:user:E2", "group:Support"}

    report, _ = run(plan, d)
    assert report.ok, report.failed
    order = [target for method, target in d.calls if method != "find_user"]
    assert order.index("E1") < order.index("E2") < order.index(support.id)
    assert order.index(sales.id) < order.index(leaver.id)
    manager_id = next(u.id for u in d.users.values() if u.external_id == "E1")
    report_id = next(u.id for u in d.users.values() if u.external_id == "E2")
    assert d.users[report_id].attrs["manager"] == manager_id
    assert d.groups[support.id].members == {manager_id, report_id}


class SlowStore(MemoryStore):
    """A store that is slow to read and to write, as a busy database is: it widens
    the moments in which two workers each hold one lock and want the other's."""

    def state(self, workspace: str) -> StateView:
        time.sleep(0.001)
        return super().state(workspace)

    @contextmanager
    def tx(self) -> Iterator[Any]:
        with super().tx() as conn:
            time.sleep(0.005)
            yield conn


def test_workers_never_wait_on_each_other_for_the_state():
    """Creates record their results while updates and deactivations read the state:
    the run's own lock is never held while the store is asked for anything, and no
    worker asks for it inside a store transaction (a deadlock hung CI for 90 min)."""
    d = FakeDirectory()
    leaver, mover = d.add_user("O1", "o1@example.com"), d.add_user("O2", "o2@example.com")
    plan = plan_of(
        deactivate(leaver), update(mover, title="Lead"), *(create(f"E{i}") for i in range(20))
    )
    done: list[ApplyReport] = []
    worker = threading.Thread(
        target=lambda: done.append(run(plan, d, SlowStore(), parallelism=8)[0]), daemon=True
    )
    worker.start()
    worker.join(timeout=30)
    assert done, "apply's workers deadlocked on the run's lock and the store's"
    assert done[0].ok, done[0].failed


def test_additions_and_removals_of_one_group_are_one_node():
    d = FakeDirectory()
    old = d.add_user("E9", "e9@example.com")
    group = d.add_group("Support", (old.id,))
    nodes = build_graph(plan_of(create("E1"), add_members(group, "E1"), remove_members(group, old)))
    assert [a.kind for a in nodes["group:Support"].actions] == ["add_members", "remove_members"]


# -- failures -------------------------------------------------------------------------
def test_a_failed_create_skips_only_its_dependents():
    d = FakeDirectory()
    kept = d.add_user("E5", "e5@example.com")
    support, sales = d.add_group("Support"), d.add_group("Sales")
    d.fail("create_user", "E1")
    plan = plan_of(
        create("E1"),
        create("E2", manager="E1"),  # reports to the failed create: not run
        create("E3"),  # independent: runs
        add_members(support, "E1"),  # only the failed user: nothing to send
        add_members(sales, "E1", "E3", "E5", live={"E5": kept.id}),  # the others go
    )
    report, store = run(plan, d)
    assert outcomes(report) == {
        "create:user:E1": "failed",
        "create:user:E2": "skipped",
        "create:user:E3": "ok",
        "group:Support": "skipped",
        "group:Sales": "partial",
    }
    skipped = {r.node: r.error or "" for r in report.results if r.outcome == "skipped"}
    assert "depends on create:user:E1" in skipped["create:user:E2"]
    assert "E1" in skipped["group:Support"]
    assert not report.ok
    assert ("create_user", "E2") not in d.calls and ("patch_group", support.id) not in d.calls
    new_e3 = next(u.id for u in d.users.values() if u.external_id == "E3")
    assert d.groups[sales.id].members == {new_e3, kept.id}
    # The journal never calls them succeeded.
    results = {r["action_id"]: r["outcome"] for r in store.operations if r["phase"] == "result"}
    assert results["create:user:E2"] == "skipped" and results["group:Support"] == "skipped"


def test_quarantine_stops_when_more_than_half_of_recent_operations_fail():
    d = FakeDirectory()
    keys = [f"E{i:02}" for i in range(30)]
    for key in keys[:6]:  # nodes start in name order: 6 of the first 10 fail, 4 succeed
        d.fail("create_user", key)
    report, _ = run(plan_of(*(create(k) for k in keys)), d, parallelism=1)
    assert report.stopped_early and "6 of the last 10" in report.stopped_early
    assert [m for m, _ in d.calls].count("create_user") == QUARANTINE_MIN
    counts = list(outcomes(report).values())
    assert (counts.count("failed"), counts.count("ok"), counts.count("skipped")) == (6, 4, 20)
    assert all("quarantine" in (r.error or "") for r in report.results if r.outcome == "skipped")


def test_quarantine_lets_a_minority_of_failures_run_on():
    d = FakeDirectory()
    keys = [f"E{i:02}" for i in range(30)]
    for key in keys[::3]:  # one in three fails
        d.fail("create_user", key)
    report, _ = run(plan_of(*(create(k) for k in keys)), d, parallelism=1)
    assert report.stopped_early is None
    assert list(outcomes(report).values()).count("ok") == 20


# -- leavers ---------------------------------------------------------------------------
def test_a_leaver_is_deactivated_when_the_removal_of_a_membership_failed():
    d = FakeDirectory()
    leaver = d.add_user("E9", "e9@example.com")
    sales = d.add_group("Sales", (leaver.id,))
    d.fail("patch_group", sales.id, ApiError("Forbidden", status=403))
    report, store = run(plan_of(remove_members(sales, leaver), deactivate(leaver)), d)
    # The group's failure is its own; taking access away went ahead after it.
    assert outcomes(report) == {"group:Sales": "failed", "deactivate:user:E9": "ok"}
    assert d.users[leaver.id].attrs["active"] is False
    assert [m for m, _ in d.calls] == ["patch_group", "patch_user"]
    assert not report.not_deprovisioned and not report.ok
    assert "E9" in store.state("unit").users


def test_the_quarantine_stops_everything_but_deprovisioning():
    d = FakeDirectory()
    leavers = [d.add_user(f"L{i}", f"l{i}@example.com") for i in range(3)]
    sales = d.add_group("Sales", tuple(u.id for u in leavers))
    keys = [f"E{i:02}" for i in range(20)]
    for key in keys:
        d.fail("create_user", key)
    plan = plan_of(
        *(create(k) for k in keys),
        remove_members(sales, *leavers),
        *(deactivate(u) for u in leavers),
    )
    report, _ = run(plan, d, parallelism=1)
    assert report.stopped_early
    result = outcomes(report)
    assert [result[f"deactivate:user:L{i}"] for i in range(3)] == ["ok"] * 3
    assert all(d.users[u.id].attrs["active"] is False for u in leavers)
    assert "skipped" in result.values()  # the quarantine did stop the rest


def test_a_deactivation_that_fails_is_reported_as_access_not_taken_away():
    d = FakeDirectory()
    leaver, fine = d.add_user("E9", "e9@example.com"), d.add_user("E8", "e8@example.com")
    d.fail("patch_user", leaver.id, ApiError("Not Implemented", status=501))
    report, _ = run(plan_of(deactivate(leaver), deactivate(fine)), d)
    assert [r.node for r in report.not_deprovisioned] == ["deactivate:user:E9"]
    assert "Not Implemented" in (report.not_deprovisioned[0].error or "")


def test_additions_and_removals_go_in_separate_patches_so_one_cannot_sink_the_other():
    d = FakeDirectory()
    old, kept = d.add_user("E9", "e9@example.com"), d.add_user("E8", "e8@example.com")
    group = d.add_group("Support", (old.id,))
    d.fail("patch_group", group.id)  # the first PATCH: the additions
    plan = plan_of(add_members(group, "E8", live={"E8": kept.id}), remove_members(group, old))
    report, _ = run(plan, d)
    assert outcomes(report) == {"group:Support": "failed"}
    assert [m for m, _ in d.calls] == ["patch_group", "patch_group"]
    assert d.groups[group.id].members == set()  # the removal went through all the same


def test_a_refused_filter_removal_is_sent_in_the_value_form_learned_once():
    d = FakeDirectory()
    users = [d.add_user(f"E{i}", f"e{i}@example.com") for i in range(4)]
    sales = d.add_group("Sales", (users[0].id, users[1].id))
    support = d.add_group("Support", (users[2].id, users[3].id))
    d.fail("patch_group", sales.id, ApiError("Not Implemented", status=501))
    plan = plan_of(remove_members(sales, users[0]), remove_members(support, users[2]))
    report, _ = run(plan, d, parallelism=1)
    assert report.ok, report.failed
    assert d.groups[sales.id].members == {users[1].id}
    assert d.groups[support.id].members == {users[3].id}
    # Sales: refused, then the value form; Support: the value form straight away.
    assert [t for m, t in d.calls] == [sales.id, sales.id, support.id]
    assert len(report.learned) == 1 and "HTTP 501" in report.learned[0]


def test_a_removal_that_matched_nothing_is_not_retried_in_the_value_form():
    d = FakeDirectory()
    gone = d.add_user("E9", "e9@example.com")
    group = d.add_group("Support", (gone.id,))
    # RFC 7644 noTarget: the value form would remove every member on such a service.
    d.fail("patch_group", group.id, ApiError("no match", status=400, scim_type="noTarget"))
    report, _ = run(plan_of(remove_members(group, gone)), d)
    assert outcomes(report) == {"group:Support": "failed"} and not report.learned
    assert [m for m, _ in d.calls] == ["patch_group"]


# -- journal and state ----------------------------------------------------------------
def test_the_journal_has_an_intent_before_and_a_result_after_each_operation():
    d = FakeDirectory()
    live = d.add_user("E9", "e9@example.com", title="Agent")
    store = MemoryStore()
    seen: list[tuple[str, list[str]]] = []

    def look(method: str, target: str) -> None:
        # At the moment of the request: which journal rows exist for this operation.
        node = {"E1": "create:user:E1", live.id: "update:user:E9"}.get(target)
        if node and method in ("create_user", "patch_user"):
            seen.append((node, [r["phase"] for r in store.operations if r["action_id"] == node]))

    d.before_call = look
    d.fail("patch_user", live.id)
    report, _ = run(plan_of(create("E1"), update(live, title="Lead")), d, store)
    assert sorted(seen) == [("create:user:E1", ["intent"]), ("update:user:E9", ["intent"])]
    for node in ("create:user:E1", "update:user:E9"):
        rows = [r for r in store.operations if r["action_id"] == node]
        assert [r["phase"] for r in rows] == ["intent", "result"]
        assert rows[0]["id"] < rows[1]["id"] and rows[1]["outcome"] == outcomes(report)[node]
    intent = next(r for r in store.operations if r["action_id"] == "create:user:E1")
    assert (intent["method"], intent["path"]) == ("POST", d.users_path)
    failed = next(r for r in store.operations if r["outcome"] == "failed")
    assert failed["action_id"] == "update:user:E9" and "injected failure" in failed["error"]


def test_a_skipped_operation_has_a_result_row_and_no_intent():
    d = FakeDirectory()
    d.fail("create_user", "E1")
    _, store = run(plan_of(create("E1"), create("E2", manager="E1")), d)
    rows = [r for r in store.operations if r["action_id"] == "create:user:E2"]
    assert [(r["phase"], r["outcome"]) for r in rows] == [("result", "skipped")]


def test_state_and_outbox_change_only_for_operations_that_succeeded():
    d = FakeDirectory()
    stays = d.add_user("E8", "e8@example.com", title="Agent")
    leaver = d.add_user("E9", "e9@example.com")
    store = MemoryStore()
    with store.tx() as conn:
        for key, user in (("E8", stays), ("E9", leaver)):
            store.put_user(conn, "unit", key, user.id, user.user_name, {}, "1")
    d.fail("create_user", "E1")
    d.fail("patch_user", stays.id)
    plan = plan_of(create("E1"), create("E2"), update(stays, title="Lead"), deactivate(leaver))
    report, _ = run(plan, d, store, outbox=True)
    assert outcomes(report) == {
        "create:user:E1": "failed",
        "create:user:E2": "ok",
        "update:user:E8": "failed",
        "deactivate:user:E9": "ok",
    }
    state = store.state("unit")
    assert set(state.users) == {"E2", "E8", "E9"}
    assert state.users["E8"].version == "1" and state.applied["E8"] == {}  # untouched
    assert state.applied["E9"]["active"] is False and state.users["E9"].version == "2"
    events = {e["payload"]["externalId"]: e["payload"]["action"] for e in store.events}
    assert events == {"E2": "create", "E9": "deactivate"}


# -- apply_plan on the fakes ----------------------------------------------------------
def test_apply_plan_records_the_run_and_releases_the_lock():
    d = FakeDirectory()
    group = d.add_group("Support")
    store = MemoryStore()
    report = apply_plan(plan_of(create("E1"), add_members(group, "E1")), d, store)  # type: ignore[arg-type]  # a DirectoryWrites, not a ScimClient
    assert report.ok
    (run_record,) = store.runs.values()
    assert run_record["outcome"] == "succeeded" and run_record["summary"]["operations"] == 2
    metrics = store.run_metrics[run_record["id"]]
    assert metrics["operations_total"] == 2
    # The requests come from the directory the run wrote through (request_stats).
    assert metrics["requests_total"] == len(d.calls) > 0
    assert store.lock_holder("unit") is None
    assert store.state("unit").serial == 1


def test_apply_plan_refuses_a_plan_made_against_an_older_state():
    d = FakeDirectory()
    store = MemoryStore()
    store.begin_apply("unit", "", 0)  # another apply moved the serial
    with pytest.raises(StaleState):
        apply_plan(plan_of(create("E1")), d, store)  # type: ignore[arg-type]
    (run_record,) = store.runs.values()
    assert run_record["outcome"] == "refused" and d.calls == []
    assert store.lock_holder("unit") is None
