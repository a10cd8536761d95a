"""Running the graph's nodes in dependency order, a few at a time, with a quarantine.

A node runs once the nodes it depends on are finished; taking access away goes first
among what is ready and runs whatever the outcome of what it waited for. The
quarantine stops starting new work when most recent operations failed (a broken
service or a bad plan should not be written through to the end), but never stops a
deprovisioning: a leaver loses access whatever else failed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from scimctl.apply.graph import Node, takes_access_away
from scimctl.apply.results import OpResult

QUARANTINE_WINDOW = 20
QUARANTINE_MIN = 10
QUARANTINE_SHARE = 0.5


class Quarantine:
    """Whether more than ``QUARANTINE_SHARE`` of the last operations failed."""

    def __init__(self) -> None:
        self.recent: deque[bool] = deque(maxlen=QUARANTINE_WINDOW)
        self.stopped: str | None = None

    def record(self, res: OpResult) -> None:
        self.recent.append(res.outcome == "ok")
        failures = self.recent.count(False)
        if (
            self.stopped is None
            and len(self.recent) >= QUARANTINE_MIN
            and failures / len(self.recent) > QUARANTINE_SHARE
        ):
            self.stopped = (
                f"quarantine: {failures} of the last {len(self.recent)} "
                "operations failed; stopped early"
            )


def blocked_by(node: Node, outcome: dict[str, OpResult]) -> str | None:
    """Why ``node`` may not run given its dependencies' outcomes, or None.

    Group nodes go ahead without members whose create failed, but not without the
    group itself; a deprovisioning runs after the membership removals it waits for
    whatever their outcome (each failure is reported on its own); other user nodes
    do not run on a failed dependency."""
    if takes_access_away(node):
        return None
    failed = sorted(d for d in node.deps if outcome[d].outcome != "ok")
    if node.name.startswith("group:"):
        failed = [d for d in failed if d.startswith("create_group:")]
    return f"depends on {', '.join(failed)}, which did not succeed" if failed else None


def schedule(
    nodes: dict[str, Node],
    run_node: Callable[[Node], OpResult],
    skip: Callable[[Node, str], OpResult],
    *,
    parallelism: int,
    progress: Callable[[OpResult, int, int], None],
) -> tuple[list[OpResult], str | None]:
    """Every node's result, in the graph's order, and why the run stopped early if it
    did. ``run_node`` runs on a worker thread; ``skip`` records a node not run."""
    waiting = {n: set(node.deps) for n, node in nodes.items() if node.deps}
    # Taking access away goes first among what is ready.
    ready = deque(
        sorted(
            (n for n, node in nodes.items() if not node.deps),
            key=lambda n: (not takes_access_away(nodes[n]), n),
        )
    )
    outcome: dict[str, OpResult] = {}
    quarantine = Quarantine()
    running: dict[Future[OpResult], str] = {}
    total = len(nodes)

    def finish(name: str, res: OpResult) -> None:
        outcome[name] = res
        for dep in sorted(nodes[name].dependents):
            waiting[dep].discard(name)
            if not waiting[dep]:
                del waiting[dep]
                if takes_access_away(nodes[dep]):
                    ready.appendleft(dep)
                else:
                    ready.append(dep)
        progress(res, len(outcome), total)

    with ThreadPoolExecutor(parallelism, thread_name_prefix="apply") as pool:
        while ready or running:
            # Keep at most `parallelism` nodes in flight: waiting on a few futures
            # is cheap, and a quarantine stops work that has not started yet.
            while ready and len(running) < parallelism:
                node = nodes[ready.popleft()]
                blocked = blocked_by(node, outcome)
                # A leaver loses access whatever else failed: a quarantine stops
                # everything but deprovisioning.
                halted = None if takes_access_away(node) else quarantine.stopped
                if halted or blocked:
                    finish(node.name, skip(node, f"not run: {halted or blocked}"))
                else:
                    running[pool.submit(run_node, node)] = node.name
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                res = fut.result()
                quarantine.record(res)
                finish(running.pop(fut), res)
    return [outcome[n] for n in nodes], quarantine.stopped
