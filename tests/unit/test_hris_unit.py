"""Outbox delivery on the in-memory store: batching, retries, what stays pending."""

from __future__ import annotations

from typing import Any

from scimctl.errors import WebhookError
from scimctl.records.hris import BATCH, deliver
from scimctl.state.interfaces import OutboxReader
from scimctl.state.memory import MemoryStore
from scimctl.state.store import Store


class Receiver:
    """Takes batches; fails the first ``failures`` posts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[list[dict[str, Any]]] = []

    def post(self, payload: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise WebhookError("webhook https://hooks.example/***: HTTP 503")
        self.batches.append(payload["events"])


def queued(n: int, workspace: str = "w") -> MemoryStore:
    store = MemoryStore()
    with store.tx() as conn:
        for i in range(n):
            store.add_event(conn, workspace, "run", {"n": i})
    return store


def test_events_go_out_in_order_in_batches_and_are_marked_delivered():
    store = queued(BATCH + 5)
    receiver = Receiver()
    result = deliver(store, receiver, backoff=0)  # type: ignore[arg-type]
    assert (result.delivered, result.pending, result.error) == (BATCH + 5, 0, None)
    assert [len(b) for b in receiver.batches] == [BATCH, 5]
    assert [e["n"] for b in receiver.batches for e in b] == list(range(BATCH + 5))


def test_a_receiver_that_stays_down_leaves_everything_pending_with_the_error():
    store = queued(3)
    result = deliver(store, Receiver(failures=99), attempts=2, backoff=0)  # type: ignore[arg-type]
    assert (result.delivered, result.pending) == (0, 3)
    assert "HTTP 503" in (result.error or "")
    assert all(e["attempts"] == 2 and "HTTP 503" in e["last_error"] for e in store.events)
    # A later delivery sends them once the receiver is back.
    assert deliver(store, Receiver(), backoff=0).delivered == 3  # type: ignore[arg-type]


def test_only_the_named_workspace_is_delivered():
    store = queued(2, "a")
    with store.tx() as conn:
        store.add_event(conn, "b", "run", {"n": 9})
    result = deliver(store, Receiver(), workspace="b", backoff=0)  # type: ignore[arg-type]
    assert (result.delivered, result.pending) == (1, 0)
    assert store.pending_count("a") == 2


def test_both_stores_can_be_delivered_from(sqlite_url):
    assert isinstance(MemoryStore(), OutboxReader)
    store = Store(sqlite_url)
    try:
        assert isinstance(store, OutboxReader)
        assert store.pending_events(None, 10) == [] and store.pending_count(None) == 0
    finally:
        store.close()
