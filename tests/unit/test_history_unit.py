"""The audit history's logic on the in-memory store: filters, unknown outcomes,
run details. No database: ``scimctl.records.history`` reads only through ``AuditLog``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scimctl.records import history
from scimctl.state.memory import MemoryStore


def op(run_id: str, phase: str, action: str, resource: str, key: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "workspace": "ws", "run_id": run_id, "phase": phase,
        "action_id": f"{action}:{resource}:{key}", "action": action, "resource": resource,
        "resource_key": key, "user_name": None, "method": "POST", "path": "/Users",
        "status": None, "outcome": None, "attempts": None, "latency_ms": None, "error": None,
        "changes": None,
    }  # fmt: skip
    if phase == "result":
        row.update(status=200, outcome="ok", attempts=1, latency_ms=5.0)
    return {**row, **kw}


def journal() -> tuple[MemoryStore, str, str]:
    store = MemoryStore()
    first = store.start_run("ws", "apply")
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    with store.tx() as conn:
        for phase in ("intent", "result"):
            store.append_operation(
                conn,
                op(first, phase, "create", "user", "E1", user_name="ann@example.com", at=at,
                   changes={"title": {"before": None, "after": "Agent"}}),
            )  # fmt: skip
    store.finish_run(first, "succeeded")
    store.put_metrics(first, {"operations_total": 1})
    second = store.start_run("ws", "apply")
    later = datetime(2026, 11, 2, 12, tzinfo=UTC)
    with store.tx() as conn:
        for phase in ("intent", "result"):
            store.append_operation(
                conn,
                op(second, phase, "update", "user", "E1", user_name="ann.b@example.com", at=later,
                   changes={"userName": {"before": "ann@example.com",
                                         "after": "ann.b@example.com"},
                            "password": {"before": None, "after": "hunter2"}}),
            )  # fmt: skip
            store.append_operation(
                conn,
                op(second, phase, "update", "group", "Support", at=later,
                   changes={"members": {"added": ["ann.b@example.com"], "removed": []}}),
            )  # fmt: skip
        # Sent, never answered: the outcome is unknown once the run is over.
        store.append_operation(conn, op(second, "intent", "delete", "user", "E2", at=later))
    store.finish_run(second, "crashed")
    return store, first, second


def test_history_filters_and_marks_unknown_outcomes():
    store, first, second = journal()
    rows = history.history(store)
    assert [(r["action"], r["resource_key"]) for r in rows] == [
        ("delete", "E2"), ("update", "Support"), ("update", "E1"), ("create", "E1"),
    ]  # fmt: skip
    assert rows[0]["outcome"] == "unknown" and "phase" not in rows[0]
    assert "password" not in rows[2]["changes"]  # secrets never shown
    # Any name the account ever had finds it, and the groups it joined by name.
    by_old_name = history.history(store, user="ANN@example.com")
    assert [(r["resource_key"], r["run_id"]) for r in by_old_name] == [
        ("Support", second), ("E1", second), ("E1", first),
    ]  # fmt: skip
    assert [r["resource_key"] for r in history.history(store, group="Support")] == ["Support"]
    assert [r["action"] for r in history.history(store, attribute="title")] == ["create"]
    assert {r["run_id"] for r in history.history(store, run=first[:8])} == {first}
    since = datetime(2026, 11, 2, tzinfo=UTC)
    assert {r["run_id"] for r in history.history(store, since=since)} == {second}
    assert {r["run_id"] for r in history.history(store, until=since)} == {first}
    assert len(history.history(store, limit=2)) == 2
    assert history.history(store, workspace="other") == []


def test_runs_and_run_details_on_the_memory_store():
    store, first, second = journal()
    listed = history.runs(store)
    assert [(r["id"], r["operations"]) for r in listed] == [(second, 3), (first, 1)]
    assert [r["id"] for r in history.runs(store, outcome="crashed")] == [second]
    details = history.run_details(store, first)
    assert details is not None and details["metrics"] == {"operations_total": 1.0}
    assert [o["action"] for o in details["operations"]] == ["create"]
    assert history.run_details(store, "no-such-run") is None
    assert history.verify_chain(store).ok  # nothing chained, nothing broken
