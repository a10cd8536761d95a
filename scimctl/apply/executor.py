"""Running a plan: each node's journal rows around its writes, in dependency order.

The jobs are in their own modules: the dependency graph (``graph.py``), the order,
concurrency and quarantine (``schedule.py``), the journal's rows (``journal.py``),
user writes (``users.py``), group writes and chunking (``groups.py``), the HRIS
outbox events (``outbox.py``), and what they share in one run (``context.py``).
This module ties them together for one node: an ``intent`` row before anything is
sent and, in one transaction, the ``result`` row, the state change and the outbox
event after. A crash at any moment therefore leaves a database that the next plan
reconciles: creates carry the externalId, so whatever was created is adopted, never
created twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scimctl.apply.context import Commit, DirectoryWrites, RunContext
from scimctl.apply.graph import Node, build_graph
from scimctl.apply.groups import GroupWrites
from scimctl.apply.journal import journal_row, route
from scimctl.apply.results import ApplyReport, OpResult
from scimctl.apply.schedule import schedule
from scimctl.apply.users import UserWrites
from scimctl.errors import ApiError, OperationFailed
from scimctl.model import LiveGroup
from scimctl.plan.model import Plan
from scimctl.scim.transport import RequestTrace
from scimctl.state.interfaces import ExecutorStore


class Executor:
    def __init__(
        self,
        plan: Plan,
        client: DirectoryWrites,
        store: ExecutorStore,
        run_id: str,
        *,
        parallelism: int = 8,
        progress: Callable[[OpResult, int, int], None] | None = None,
        on_password: Callable[[dict[str, Any], str], bool] | None = None,
        outbox: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self.parallelism = max(1, parallelism)
        self.progress = progress or (lambda r, done, total: None)
        self.context = ctx = RunContext(
            plan, client, store, run_id,
            on_password=on_password, outbox=outbox, clock=clock, sleep=sleep,
        )  # fmt: skip
        self.users = UserWrites(ctx)
        self.groups = GroupWrites(ctx)

    @property
    def created_groups(self) -> dict[str, LiveGroup]:
        """The groups this run created, by name (the plan has no live id for them)."""
        return self.context.created_groups

    def run(self) -> ApplyReport:
        started = self.context.clock()
        results, stopped = schedule(
            build_graph(self.plan), self._run_node, self._skip,
            parallelism=self.parallelism, progress=self.progress,
        )  # fmt: skip
        report = ApplyReport(self.context.run_id, results, self.context.clock() - started, stopped)
        report.learned = list(self.context.fallbacks.learned)
        return report

    def _row(
        self, node: Node, phase: str, res: OpResult | None = None,
        method: str | None = None, path: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The journal row; made before its transaction begins, as it takes the run's
        lock, and a worker holding that lock may be waiting for the store (context.py)."""
        ctx, action = self.context, node.actions[0]
        resource_id = action.live_id or ctx.created_id(action)
        return journal_row(node, phase, ctx.workspace, ctx.run_id, resource_id, res, method, path)

    def _skip(self, node: Node, reason: str) -> OpResult:
        res = OpResult(node.name, node.actions, "skipped", error=reason)
        store, row = self.context.store, self._row(node, "result", res)
        with store.tx() as conn:
            store.append_operation(conn, row)
        return res

    def _run_node(self, node: Node) -> OpResult:
        ctx, store = self.context, self.context.store
        action = node.actions[0]
        res = OpResult(node.name, node.actions, "ok")
        client = ctx.client
        method, path = route(node, client.users_path, client.groups_path, ctx.created_id(action))
        if method:
            intent = self._row(node, "intent", method=method, path=path)
            with store.tx() as conn:
                store.append_operation(conn, intent)
        count = RequestTrace()
        start = ctx.clock()
        commit: Commit | None = None
        try:
            if action.kind == "create_group":
                commit = self.groups.create(action, count)
            elif action.resource == "group":
                commit = self.groups.write(node, count, res)
            else:
                commit = self.users.write(action, count, res)
        except OperationFailed as exc:
            res.outcome, res.error, res.status = "failed", str(exc), exc.status
        except ApiError as exc:
            res.outcome, res.error, res.status = "failed", _explain(exc), exc.status
        except Exception as exc:  # noqa: BLE001 - one broken node must not stop the others
            res.outcome, res.error = "failed", f"{exc.__class__.__name__}: {exc}"
        res.latency_ms = (ctx.clock() - start) * 1000
        res.attempts = count.attempts
        res.status = res.status or count.status
        row = self._row(node, "result", res, method=method, path=path)
        with store.tx() as conn:
            store.append_operation(conn, row)
            if commit is not None and res.outcome in ("ok", "partial"):
                commit(conn)
        return res


def _explain(exc: ApiError) -> str:
    if exc.version_conflict:
        return (
            f"{exc} -- the resource changed since the plan was made (in Genesys Cloud, "
            "not only in a lagging listing); run plan again"
        )
    return str(exc)
