"""The state rules every store keeps, written once so the in-memory fake cannot drift
from the SQL store: a plan made against another state is refused, and a second lock
holder waits, then is refused naming the first."""

from __future__ import annotations

import time
from collections.abc import Callable

from scimctl.errors import LockError, StaleState
from scimctl.state.interfaces import LockInfo


def refuse_stale(workspace_state: tuple[str, int], lineage: str, serial: int) -> None:
    """Refuse a plan made against ``lineage``/``serial`` when the state is now another
    (``("", 0)`` is a state that does not exist yet)."""
    current_lineage, current_serial = workspace_state
    if (current_lineage, current_serial) != (lineage, serial):
        raise StaleState(
            f"the plan was made against state {lineage or '(new)'} serial {serial}, "
            f"but the state is now {current_lineage or '(new)'} serial {current_serial}; "
            "run plan again"
        )


def wait_for_lock(
    workspace: str,
    take: Callable[[], LockInfo | None],
    *,
    timeout: float,
    poll: float,
    notify: Callable[[str], None],
) -> None:
    """Call ``take`` (which takes the lock and returns None, or returns its holder)
    until it succeeds or ``timeout`` seconds have passed; say once that it waits."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        holder = take()
        if holder is None:
            return
        who = holder.describe()
        if time.monotonic() >= deadline:
            raise LockError(
                f"state for {workspace} is locked by {who}; if that run crashed, "
                "release it with `scimctl state unlock`"
            )
        if not told:
            notify(f"waiting for the state lock held by {who}")
            told = True
        time.sleep(poll)
