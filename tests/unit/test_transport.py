"""Retry timing and rate budgeting of the transport (unit tests with a mock HTTP layer).

These are the only tests that mock HTTP: they check the waits the transport
chooses, which would take minutes against a real server.
"""

from __future__ import annotations

import random

import httpx
import pytest

from scimctl.scim.transport import (
    ApiError,
    AuthError,
    OutcomeUnknown,
    RateBudget,
    RetryPolicy,
    TokenSource,
    Transport,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(
    handler, clock: FakeClock | None = None
) -> tuple[Transport, FakeClock, list[httpx.Request]]:
    clock = clock or FakeClock()
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": f"t{len(seen)}", "expires_in": 3600})
        seen.append(request)
        return handler(request, len(seen))

    http = httpx.Client(transport=httpx.MockTransport(route))
    tokens = TokenSource(http, "http://login/oauth/token", "id", "secret")
    budget = RateBudget(clock=clock, sleep=clock.sleep)
    retry = RetryPolicy(rng=random.Random(1))
    transport = Transport("http://api", tokens, http, budget, retry, sleep=clock.sleep, clock=clock)
    return transport, clock, seen


def test_429_waits_retry_after_for_everyone():
    def handler(request, n):
        if n == 1:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"})
        return httpx.Response(200, json={})

    transport, clock, seen = make(handler)
    assert transport.request("GET", "/x").status_code == 200
    assert clock.slept == [7]
    assert transport.stats.throttled == 1 and len(seen) == 2
    # The block is shared: the next request does not wait again once it is over.
    transport.request("GET", "/y")
    assert clock.slept == [7]


def test_5xx_backoff_is_exponential_with_jitter_and_capped():
    def handler(request, n):
        return httpx.Response(503) if n < 4 else httpx.Response(200, json={})

    transport, clock, seen = make(handler)
    transport.request("GET", "/x")
    assert len(seen) == 4 and len(clock.slept) == 3
    policy = RetryPolicy()
    for attempt, waited in enumerate(clock.slept, start=1):
        assert 0 <= waited <= min(policy.cap, policy.base * 2**attempt)


def test_rides_out_faults_until_the_time_budget_then_gives_up():
    transport, clock, seen = make(lambda r, n: httpx.Response(500, json={"detail": "boom"}))
    start = clock.now
    with pytest.raises(ApiError, match="HTTP 500: boom"):
        transport.request("GET", "/x")
    budget = RetryPolicy().deadline
    # Far more tries than the old cap of 6, and never a sleep past the budget.
    assert len(seen) > RetryPolicy().attempts
    assert clock.now - start == pytest.approx(budget)


def test_a_long_burst_of_faults_is_ridden_out():
    # 30 failures in a row (well past any attempt count) still end in success.
    transport, clock, seen = make(
        lambda r, n: httpx.Response(502) if n <= 30 else httpx.Response(200, json={"ok": 1})
    )
    transport.retry.cap = 1.0
    assert transport.request("GET", "/x").json() == {"ok": 1}
    assert len(seen) == 31


def test_refused_connections_give_up_quickly_in_words():
    def refuse(request, n):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    transport, clock, seen = make(refuse)
    with pytest.raises(ApiError, match="connection refused"):
        transport.request("GET", "/x")
    assert len(seen) == RetryPolicy().attempts


def test_an_html_answer_is_named_as_such():
    page = b"<!DOCTYPE html><html><body>Sign in</body></html>"
    transport, clock, seen = make(
        lambda r, n: httpx.Response(200, content=page, headers={"content-type": "text/html"})
    )
    with pytest.raises(ApiError, match="answered with HTML, not JSON .*is api_url right"):
        transport.request("GET", "/api/v2/scim/v2/Users")


def test_non_idempotent_request_with_unknown_outcome_is_not_retried_blindly():
    transport, clock, seen = make(lambda r, n: httpx.Response(502))
    with pytest.raises(OutcomeUnknown):
        transport.request("POST", "/Users", json={}, idempotent=False)
    assert len(seen) == 1

    def reset(request, n):
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    transport, clock, seen = make(reset)
    with pytest.raises(OutcomeUnknown):
        transport.request("POST", "/Users", json={}, idempotent=False)
    assert len(seen) == 1


def test_connect_errors_are_always_safe_to_retry():
    def handler(request, n):
        if n < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, json={})

    transport, clock, seen = make(handler)
    assert transport.request("POST", "/Users", json={}, idempotent=False).status_code == 201


def test_401_fetches_a_new_token_once():
    def handler(request, n):
        return httpx.Response(401) if n == 1 else httpx.Response(200, json={})

    transport, clock, seen = make(handler)
    transport.request("GET", "/x")
    assert seen[0].headers["Authorization"] != seen[1].headers["Authorization"]
    assert transport.tokens.fetched == 2

    transport, clock, seen = make(lambda r, n: httpx.Response(401, json={"detail": "no"}))
    with pytest.raises(AuthError):
        transport.request("GET", "/x")
    assert len(seen) == 2


def test_token_is_cached_between_requests():
    transport, clock, seen = make(lambda r, n: httpx.Response(200, json={}))
    for _ in range(5):
        transport.request("GET", "/x")
    assert transport.tokens.fetched == 1


def test_budget_paces_to_the_advertised_limit_and_stops_at_exhaustion():
    clock = FakeClock()
    budget = RateBudget(clock=clock, sleep=clock.sleep)
    assert budget.acquire() == 0  # nothing known yet: no wait
    budget.observe(
        {"inin-ratelimit-allowed": "60", "inin-ratelimit-count": "1", "inin-ratelimit-reset": "59"},
        200,
    )
    waits = [budget.acquire() for _ in range(5)]
    interval = 59 / (59 * RateBudget.HEADROOM)  # what is left of the window, spread evenly
    assert waits[0] == 0 and all(w == pytest.approx(interval) for w in waits[1:])
    budget.observe(
        {
            "inin-ratelimit-allowed": "60",
            "inin-ratelimit-count": "60",
            "inin-ratelimit-reset": "30",
        },
        200,
    )
    start = clock.now
    budget.acquire()
    assert clock.now - start >= 30 - interval
