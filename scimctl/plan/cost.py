"""What a plan will cost in requests and time, so a reviewer knows before approving.

Against Genesys the bound is the rate limit, not CPU: 10,000 new hires on one token
take over half an hour. The estimate counts the requests apply will make (one per
user write, one per membership batch, what a restore needs, and apply's own re-read of
the directory before it writes, which costs what the plan's read did) and divides by
the run's budget: the tokens' documented limit, or ``target.max_rate`` if lower.
Failures, retries and lookups after an unknown outcome are not foreseen: "about".
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from scimctl.plan.grants import KIND, grant_delta
from scimctl.plan.model import Action, Cost
from scimctl.text import count

# Requests per action, beyond membership batches and grants; forget and release touch
# only state.
PER_ACTION = {
    "create": 1,
    # The platform restore, a read by id (did it come back?), the write of the
    # manifest's attributes, and a read-back of what stuck (apply/users.py).
    "restore": 4,
    "adopt": 1,
    "rekey": 1,
    "update": 1,
    "reactivate": 1,
    "deactivate": 1,
    "delete": 1,
    "create_group": 1,
    "forget": 0,
    "release": 0,
}
MEMBER_CHUNK = 500  # apply/groups.py sends at most this many members per PATCH


def estimate(actions: Iterable[Action], reads: int, *, per_minute: int, tokens: int) -> Cost:
    """The cost of applying ``actions``; ``reads`` is what reading the directory took."""
    writes = 0
    for a in actions:
        if a.kind in ("add_members", "remove_members"):
            writes += max(1, math.ceil(len(a.members) / MEMBER_CHUNK))
        elif a.kind == KIND:
            # One bulk call to remove, one to add, then the grants are read back.
            removed, added = grant_delta(a)
            writes += bool(removed) + bool(added) + 1
        else:
            writes += PER_ACTION.get(a.kind, 1)
    requests = writes + reads
    return Cost(
        requests=requests,
        writes=writes,
        reads=reads,
        per_minute=per_minute,
        tokens=tokens,
        seconds=round(requests * 60 / per_minute, 1),
    )


def duration(seconds: float) -> str:
    """``~40 s``, ``~3 min``, ``~1 h 05 min``: as precise as an estimate deserves."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02} min"


def cost_line(cost: Cost) -> str:
    return (
        f"Cost: about {count(cost.requests, 'request')}, ~{duration(cost.seconds)} at "
        f"{cost.per_minute:,} requests/min ({count(cost.tokens, 'token')})."
    )
