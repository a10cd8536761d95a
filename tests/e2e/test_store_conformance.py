"""One behaviour for every store: the in-memory fake, SQLite and PostgreSQL.

The executor's unit tests run on ``MemoryStore`` and the product on the SQL store, so
the fake is only worth trusting while it behaves as the real one does. Each test here
runs on all three through the public interfaces (``ApplyStore``), never their insides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from scimctl.errors import LockError, StaleState
from scimctl.state import Store
from scimctl.state.interfaces import ApplyStore
from scimctl.state.memory import MemoryStore

WS = "genesys:https://example.invalid"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[ApplyStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    sql = Store(url)
    try:
        yield sql
    finally:
        sql.close()


def user(store: ApplyStore, conn: object, key: str) -> None:
    store.put_user(conn, WS, key, f"id-{key}", f"{key.lower()}@example.com", {"title": key}, "1")


# -- the serial and lineage a plan was made against -------------------------------------


def test_begin_apply_moves_the_serial_and_refuses_a_stale_one(store):
    lineage, serial = store.begin_apply(WS, "", 0)  # a new state
    assert lineage and serial == 1
    assert (store.state(WS).lineage, store.state(WS).serial) == (lineage, 1)
    assert store.begin_apply(WS, lineage, 1) == (lineage, 2)
    with pytest.raises(StaleState, match="serial 1, but the state is now .* serial 2"):
        store.begin_apply(WS, lineage, 1)  # a second plan made against serial 1
    with pytest.raises(StaleState, match=r"\(new\) serial 0"):
        store.begin_apply(WS, "", 0)  # a plan made before the state existed
    assert store.state(WS).serial == 2  # refusals move nothing


def test_a_plan_from_another_lineage_is_refused_whatever_its_serial(store):
    lineage, _ = store.begin_apply(WS, "", 0)
    other = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(StaleState, match=other):
        store.begin_apply(WS, other, 1)
    assert (store.state(WS).lineage, store.state(WS).serial) == (lineage, 1)


def test_workspaces_have_their_own_serials(store):
    a, _ = store.begin_apply(WS, "", 0)
    b, serial = store.begin_apply(WS + "/other", "", 0)
    assert a != b and serial == 1 and store.state(WS).serial == 1


# -- one lock holder -----------------------------------------------------------------------


def test_one_lock_holder_at_a_time(store):
    run_id = store.start_run(WS, "apply")
    with store.lock(WS, run_id):
        holder = store.lock_holder(WS)
        assert holder is not None and holder.id == run_id and holder.operation == "apply"
        second = store.lock(WS, timeout=0)
        with pytest.raises(LockError, match=f"state for {WS} is locked by"):
            second.__enter__()
    assert store.lock_holder(WS) is None
    with store.lock(WS):  # released: the next one gets it
        assert store.lock_holder(WS) is not None


def test_a_waiting_locker_gets_the_lock_when_it_is_released(store):
    held = threading.Event()
    release = threading.Event()

    def first() -> None:
        with store.lock(WS):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(10)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with store.lock(WS, timeout=10, poll=0.05):
        waited = time.monotonic() - started
    thread.join(10)
    assert waited >= 0.2  # it did wait for the first holder, and then got the lock


def test_unlock_releases_a_lock_and_ends_its_run_as_crashed(store):
    run_id = store.start_run(WS, "apply")
    said: list[str] = []
    with store.lock(WS, run_id):
        info = store.unlock(WS, said.append)
        assert info is not None and info.id == run_id
        assert store.lock_holder(WS) is None
    assert store.unlock(WS) is None  # nothing left to release


# -- a tx() block lands whole or not at all ------------------------------------------------


def test_a_block_that_raises_leaves_nothing(store):
    store.begin_apply(WS, "", 0)
    with pytest.raises(RuntimeError), store.tx() as conn:
        user(store, conn, "E1")
        store.put_memberships(conn, WS, "Support", "g-1", ["E1"], [])
        raise RuntimeError("the process failed half-way")
    after = store.state(WS)
    assert after.users == {} and after.groups == {} and after.memberships == frozenset()


def test_a_block_that_completes_lands_whole(store):
    store.begin_apply(WS, "", 0)
    with store.tx() as conn:
        user(store, conn, "E1")
        user(store, conn, "E2")
        store.put_memberships(conn, WS, "Support", "g-1", ["E1", "E2"], [])
    after = store.state(WS)
    assert set(after.users) == {"E1", "E2"} and after.users["E1"].id == "id-E1"
    assert after.applied["E2"] == {"title": "E2"} and after.groups == {"Support": "g-1"}
    assert after.memberships == {("Support", "E1"), ("Support", "E2")}


# -- memberships ---------------------------------------------------------------------------


def test_memberships_are_added_and_removed(store):
    store.begin_apply(WS, "", 0)
    with store.tx() as conn:
        for key in ("E1", "E2", "E3"):
            user(store, conn, key)
        store.put_memberships(conn, WS, "Support", "g-1", ["E1", "E2"], [])
        store.put_memberships(conn, WS, "Sales", "g-2", ["E3"], [])
    with store.tx() as conn:
        store.put_memberships(conn, WS, "Support", "g-1", ["E3"], ["E1"])
    assert store.state(WS).memberships == {("Support", "E2"), ("Support", "E3"), ("Sales", "E3")}
    with store.tx() as conn:
        store.drop_user(conn, WS, "E3")  # a user's memberships go with it
    assert store.state(WS).memberships == {("Support", "E2")}
    with store.tx() as conn:
        store.drop_group(conn, WS, "Support")  # a group's too
    after = store.state(WS)
    assert after.memberships == frozenset() and after.groups == {"Sales": "g-2"}


def test_sync_memberships_makes_the_recorded_groups_exactly_these(store):
    store.begin_apply(WS, "", 0)
    with store.tx() as conn:
        for key in ("E1", "E2"):
            user(store, conn, key)
        store.put_memberships(conn, WS, "Support", "g-1", ["E1"], [])
        store.put_memberships(conn, WS, "Old", "g-9", ["E2"], [])
    store.sync_memberships(WS, {"Support": ("g-1", ["E2"])}, declared={"Support"})
    after = store.state(WS)
    assert after.groups == {"Support": "g-1"} and after.memberships == {("Support", "E2")}
