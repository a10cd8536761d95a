"""A broken or hostile service cannot hang scimctl, exhaust its memory or crash it.

Each case puts the suite's hostile server (tests/hostile.py) in front of the
emulator and has it misbehave one way: the rows of issue 26's table, and HTML,
malformed JSON, wrong types, huge values and bad ids. The read ends in one line
naming the request and what was wrong, within its deadline. Short limits keep the
cases fast: a 2 s retry deadline, answers of at most 1 MB.
"""

from __future__ import annotations

import pytest

from scimctl.scim.transport import MAX_PAUSE, RateBudget


@pytest.mark.parametrize("seconds", ["inf", "nan", "1e12", "-5", "soon"])
def test_hostile_rate_limit_headers_cannot_park_the_workers(seconds):
    budget = RateBudget(clock=lambda: 100.0, sleep=lambda s: None)
    budget.observe({"retry-after": seconds}, 429)
    budget.observe({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "300",
                    "inin-ratelimit-reset": seconds}, 200)  # fmt: skip
    assert budget.acquire() <= MAX_PAUSE
