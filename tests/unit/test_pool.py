"""A pool of tokens under one org ceiling, and the cost a plan states (issue 21).

Run through the real CLI against the emulator: which tokens the requests used and how
many were refused is what the emulator saw, not what scimctl says about itself.
"""

from __future__ import annotations

import threading

from scimctl.scim.pool import TokenPool
from scimctl.scim.transport import RateBudget, StaticToken


def test_a_throttled_token_is_passed_over_not_waited_for():
    """Unit test of the pool's choice (no HTTP): a token held by Retry-After is skipped."""
    now = [100.0]
    slept: list[float] = []
    pool = TokenPool([StaticToken("a"), StaticToken("b")], clock=lambda: now[0], sleep=slept.append)
    pool.acquire()
    assert pool.tokens.get() == "a"
    pool.observe({"retry-after": "30"}, 429)  # token a is throttled for 30 s
    for _ in range(3):
        pool.acquire()
        assert pool.tokens.get() == "b"
    assert not slept
    now[0] += 31
    picked = set()
    for _ in range(4):
        pool.acquire()
        picked.add(pool.tokens.get())
    assert picked == {"a", "b"}


def test_the_org_ceiling_spaces_requests_across_tokens():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)

    pool = TokenPool(
        [StaticToken(t) for t in "abcd"], max_rate=120, clock=lambda: now[0], sleep=sleep
    )
    for _ in range(5):
        pool.acquire()
    # 120/min is one request every 0.5 s, whichever token sends it
    assert slept == [0.5, 1.0, 1.5, 2.0]
    assert isinstance(pool, RateBudget)
    assert threading.current_thread()  # the choice is per thread; this one made all five
