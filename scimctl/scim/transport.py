"""HTTP transport: OAuth token, one shared rate budget, retries with backoff.

Layered like httpx itself: :class:`TokenSource` knows how to get a bearer token,
:class:`RateBudget` decides when the next request may leave, and
:class:`Transport` sends one logical request, retrying what is safe to retry.
Everything here is thread-safe: apply's workers share one transport.
"""

from __future__ import annotations

import json as jsonlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from scimctl import __version__
from scimctl.errors import ApiError, AuthError, OutcomeUnknown
from scimctl.scim.bounded import SECONDS_LEFT, SLOW_ANSWER, AnswerTooLarge, AnswerTooSlow

__all__ = ["ApiError", "AuthError", "OutcomeUnknown", "Transport"]

# A child of the "scimctl" logger, which --debug sends to stderr (cli/log.py).
log = logging.getLogger("scimctl.http")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
# The longest wait a rate-limit header may impose (Genesys's windows are 60 s).
MAX_PAUSE = 120
# RFC 7644 3.1: SCIM messages are application/scim+json; Genesys accepts both.
SCIM_JSON = "application/scim+json"
ACCEPT = f"{SCIM_JSON}, application/json"


@dataclass
class TransportStats:
    """Counters for metrics; updated under the transport's lock."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    rate_wait_seconds: float = 0.0
    network_errors: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


@dataclass
class RequestTrace:
    """What one logical operation cost: HTTP attempts (lookups included), last write status."""

    attempts: int = 0
    status: int | None = None


class StaticToken:
    """A bearer token handed over as it is (``SCIM_TOKEN``); nothing to refresh."""

    def __init__(self, token: str, hint: str = "SCIM_TOKEN") -> None:
        self._token = token
        self.hint = hint
        self.fetched = 0

    def get(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        """A refused static token stays refused: the 401 goes to the caller."""


class TokenSource:
    """Client-credentials token from the token endpoint, cached until near expiry.

    The client authenticates with HTTP Basic, as Genesys documents and RFC 6749 2.3.1
    requires every authorization server to accept.
    """

    def __init__(
        self,
        http: httpx.Client,
        token_url: str,
        client_id: str,
        client_secret: str,
        hint: str = "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET",
    ) -> None:
        self._http = http
        self._url = token_url
        self._hint = self.hint = hint
        self._auth = (client_id, client_secret)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetched = 0
        self._failures = 0
        self._failure: AuthError | None = None

    def sibling(self) -> TokenSource:
        """Another token of the same client (a pool's next member; see scim/pool.py)."""
        return TokenSource(self._http, self._url, *self._auth, hint=self._hint)

    def other_client(self, client_id: str, client_secret: str, hint: str) -> TokenSource:
        """A token of another client at the same token URL (``target.clients``)."""
        return TokenSource(self._http, self._url, client_id, client_secret, hint=hint)

    def get(self) -> str:
        failures = self._failures
        with self._lock:
            if self._failures != failures and self._failure is not None:
                # It failed while this thread waited: the next waiter would only wait
                # the same deadline again (a token endpoint that never answers).
                raise self._failure
            if self._token is None or time.monotonic() >= self._expires_at:
                try:
                    self._fetch()
                except AuthError as exc:
                    self._failures += 1
                    self._failure = exc
                    raise
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> None:
        try:
            resp = self._http.post(
                self._url, data={"grant_type": "client_credentials"}, auth=self._auth
            )
        except httpx.HTTPError as exc:
            raise AuthError(f"cannot get a token from {self._url}: {network_reason(exc)}") from exc
        if resp.status_code != 200:
            hint = f"; check {self._hint}" if resp.status_code in (400, 401, 403) else ""
            reason = _oauth_error(resp)
            raise AuthError(
                f"token request to {self._url} failed: HTTP {resp.status_code}"
                + (f" {reason}" if reason else "")
                + hint,
                status=resp.status_code,
            )
        body = json_body(resp, "POST", "/oauth/token")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"the token answer from {self._url} has no access_token")
        try:
            ttl = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            ttl = 3600.0
        if not math.isfinite(ttl) or ttl <= 0:
            ttl = 3600.0
        self._token = token
        # Renew a little early so a token never expires mid-request.
        self._expires_at = time.monotonic() + max(1.0, ttl - min(60.0, ttl * 0.1))
        self.fetched += 1


def _oauth_error(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except (ValueError, RecursionError):
        return ""
    return one_line(body.get("error", "")) if isinstance(body, dict) else ""


def one_line(value: object, limit: int = 300) -> str:
    """What a service said, fit for one line of a terminal: no control characters
    (no escape sequences, no newlines), cut at ``limit``."""
    text = "".join(c if c.isprintable() else " " for c in str(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RateBudget:
    """One request budget shared by every worker.

    Learns the window from ``inin-ratelimit-*`` headers (requests counted, allowed,
    seconds to reset) and spreads what is left of it evenly over the time left, so a
    rate-bound run sees few 429s instead of bursting into a wall. ``Retry-After`` and
    an exhausted window stop every worker until the window resets.
    """

    HEADROOM = 0.98

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._blocked_until = 0.0
        self.interval = 0.0

    def acquire(self) -> float:
        """Wait for this request's slot; return the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_slot, self._blocked_until)
            self._next_slot = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(0.0, wait)

    def observe(self, headers: httpx.Headers | dict[str, str], status: int) -> None:
        now = self._clock()
        allowed = _int(headers.get("inin-ratelimit-allowed"))
        count = _int(headers.get("inin-ratelimit-count"))
        reset = _seconds(headers.get("inin-ratelimit-reset"))
        retry_after = _seconds(headers.get("retry-after"))
        with self._lock:
            if allowed and count is not None and reset is not None:
                left = allowed - count
                if left <= 0:
                    self._blocked_until = max(self._blocked_until, now + reset)
                else:
                    self.interval = reset / (left * self.HEADROOM)
            if status == 429:
                pause = retry_after if retry_after is not None else (reset or 1)
                self._blocked_until = max(self._blocked_until, now + pause)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except (ValueError, OverflowError):
        return None


def _seconds(value: str | None) -> int | None:
    """A header's seconds, capped: a hostile ``Retry-After`` must not park every worker."""
    number = _int(value)
    return None if number is None else max(0, min(number, MAX_PAUSE))


def network_reason(exc: Exception) -> str:
    """A transport failure in words an operator can act on."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "the connection timed out (is the host reachable from here?)"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused (is the URL right, and is the service running?)"
        if "name or service not known" in text or "nodename nor servname" in text:
            return "the host name does not resolve (is the URL right?)"
        return f"cannot connect ({exc.__class__.__name__}: {exc})"
    if isinstance(exc, AnswerTooSlow) or str(exc) == SLOW_ANSWER:
        return SLOW_ANSWER
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time (timeout)"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def json_body(resp: httpx.Response, method: str, path: str) -> dict[str, Any]:
    """The JSON object of an answer, or one clear error instead of a decoder traceback.

    A wrong ``api_url`` usually lands on a web page or a proxy, which answers with
    HTML; saying so beats a ``JSONDecodeError``.
    """
    try:
        body = resp.json()
    except (ValueError, RecursionError):
        body = None
        head = resp.content[:200].lstrip().lower()
        if head.startswith(b"<"):
            raise ApiError(
                f"{method} {path}: the target answered with HTML, not JSON "
                f"(HTTP {resp.status_code}, {resp.headers.get('content-type', 'no content type')})"
                ": is api_url right?",
                status=resp.status_code,
                method=method,
                path=path,
            ) from None
    if not isinstance(body, dict):
        kind = "an empty body" if not resp.content else "a body that is not a JSON object"
        raise ApiError(
            f"{method} {path}: HTTP {resp.status_code} with {kind}",
            status=resp.status_code,
            method=method,
            path=path,
        )
    return body


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, within a time budget per request.

    An idempotent request is retried until ``deadline`` seconds have passed since its
    first attempt (rate-limit waits not counted), so a burst of faults is ridden out
    however many attempts it takes.
    ``attempts`` still caps connection failures (nothing listening is a wrong URL,
    not a fault to ride out); non-idempotent writes are never retried blindly.
    """

    deadline: float = 60.0
    attempts: int = 6
    throttle_attempts: int = 20
    base: float = 0.25
    cap: float = 10.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 32)))


class Transport:
    """Sends one logical request to the API, with token, budget and retries."""

    def __init__(
        self,
        api_url: str,
        tokens: TokenSource | StaticToken,
        http: httpx.Client,
        budget: RateBudget | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens
        self.http = http
        self.budget = budget or RateBudget()
        self.retry = retry or RetryPolicy()
        self.stats = TransportStats()
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self.stats, key, getattr(self.stats, key) + value)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
        trace: RequestTrace | None = None,
    ) -> httpx.Response:
        """Send and return the final response (2xx, 304 or a non-retryable 4xx).

        Retries 429 after the wait the service asks for, and 5xx, timeouts and
        dropped connections with backoff when the request is idempotent. For a
        non-idempotent request whose fate is unknown it raises
        :class:`OutcomeUnknown` so the caller can look before trying again.
        """
        url = self.api_url + path
        content = None if json is None else jsonlib.dumps(json).encode()
        refreshed = False
        failures = throttles = 0
        if trace is None:
            trace = RequestTrace()
        # The retry deadline bounds every attempt, each one's whole answer included
        # (scim/bounded.py cuts an attempt at the time left); time spent waiting on the
        # rate limit or on earlier chunks of the same operation never eats into it.
        deadline: float | None = None
        while True:
            trace.attempts += 1
            waited = self.budget.acquire()
            if deadline is None:
                deadline = self._clock() + self.retry.deadline
            else:
                deadline += waited
            token = self.tokens.get()
            hdrs = {
                "Authorization": f"Bearer {token}",
                "User-Agent": f"scimctl/{__version__}",
                "Accept": ACCEPT,
            }
            if content is not None:
                hdrs["Content-Type"] = SCIM_JSON
            hdrs.update(headers or {})
            self._count(requests=1, rate_wait_seconds=waited)
            sent = self._clock()
            try:
                resp = self.http.request(
                    method, url, content=content, params=params, headers=hdrs,
                    extensions={SECONDS_LEFT: deadline - self._clock()},
                )  # fmt: skip
                resp.read()
            except AnswerTooLarge as exc:
                if idempotent:
                    raise
                # The write reached the service; only its answer was refused.
                raise OutcomeUnknown(str(exc), method=method, path=path) from exc
            except httpx.ConnectError as exc:
                # Nothing reached the server: always safe to try again, but a target
                # that refuses every connection is a wrong URL, not a fault to ride out.
                self._count(network_errors=1)
                failures += 1
                log.debug("%s %s -> %s", method, path, exc.__class__.__name__)
                if failures >= self.retry.attempts:
                    raise ApiError(
                        f"{method} {self.api_url}{path}: {network_reason(exc)}",
                        method=method,
                        path=path,
                    ) from exc
                self._backoff(failures, deadline)
                continue
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                self._count(network_errors=1)
                failures += 1
                log.debug("%s %s -> %s", method, path, exc.__class__.__name__)
                reason = f"{method} {path}: {network_reason(exc)}"
                if not idempotent:
                    raise OutcomeUnknown(reason, method=method, path=path) from exc
                if self._clock() >= deadline:
                    raise ApiError(
                        f"{reason} (gave up after {self.retry.deadline:g}s)",
                        method=method,
                        path=path,
                    ) from exc
                self._backoff(failures, deadline)
                continue
            log.debug(
                "%s %s -> %s in %.0f ms",
                method,
                path,
                resp.status_code,
                (self._clock() - sent) * 1000,
            )
            with self._lock:
                self.stats.by_status[resp.status_code] = (
                    self.stats.by_status.get(resp.status_code, 0) + 1
                )
            if method != "GET":
                trace.status = resp.status_code
            self.budget.observe(resp.headers, resp.status_code)
            if resp.status_code == 401 and not refreshed:
                refreshed = True
                self.tokens.invalidate(token)
                self._count(retries=1)
                continue
            if resp.status_code == 429:
                throttles += 1
                self._count(throttled=1, retries=1)
                if throttles >= self.retry.throttle_attempts:
                    raise api_error(resp, method, path)
                continue
            if resp.status_code in RETRYABLE_STATUS:
                failures += 1
                if not idempotent:
                    raise OutcomeUnknown(
                        f"{method} {path}: HTTP {resp.status_code}",
                        status=resp.status_code,
                        method=method,
                        path=path,
                    )
                if self._clock() >= deadline:
                    raise api_error(
                        resp, method, path, gave_up=f"gave up after {self.retry.deadline:g}s"
                    )
                self._backoff(failures, deadline)
                continue
            if resp.status_code == 401:
                # Refused even with a fresh token: say which credentials to check.
                raise api_error(resp, method, path, hint=getattr(self.tokens, "hint", None))
            if resp.status_code >= 400:
                raise api_error(resp, method, path)
            if resp.content and "json" not in resp.headers.get("content-type", "json"):
                json_body(resp, method, path)  # raises unless it parses after all
            return resp

    def _backoff(self, failures: int, deadline: float) -> None:
        """Sleep before the next try, never past the operation's deadline."""
        self._count(retries=1)
        left = deadline - self._clock()
        self._sleep(max(0.0, min(self.retry.delay(failures), left)))


def api_error(
    resp: httpx.Response,
    method: str,
    path: str,
    hint: str | None = None,
    gave_up: str | None = None,
) -> ApiError:
    """Turn a SCIM or Platform error body into an :class:`ApiError`."""
    detail, scim_type = "", None
    try:
        body = resp.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        detail = one_line(body.get("detail") or body.get("message") or body.get("error") or "")
        scim_type = one_line(body.get("scimType"), 60) if body.get("scimType") else None
    text = f"{method} {path}: HTTP {resp.status_code}"
    if scim_type:
        text += f" {scim_type}"
    if detail:
        text += f": {detail}"
    if hint:
        text += f"; check {hint}"
    if gave_up:
        text += f" ({gave_up})"
    cls = AuthError if resp.status_code in (401, 403) else ApiError
    return cls(text, status=resp.status_code, scim_type=scim_type, method=method, path=path)
