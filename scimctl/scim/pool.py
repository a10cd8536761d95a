"""A pool of OAuth tokens, each with its own rate budget, under one org-wide ceiling.

Genesys limits requests per client-credentials token (300 a minute), so one token
caps a run at 5 requests a second however many workers it has. Its own Terraform
provider keeps a pool of tokens for that reason, and so does scimctl with
``target.tokens``. Each token keeps the :class:`~scimctl.scim.transport.RateBudget`
it learns from ``inin-ratelimit-*`` and ``Retry-After``; every request goes out on
the token that can send soonest, so a throttled token (held until its
``Retry-After``) or one being renewed is passed over rather than waited for. Above
the tokens, ``target.max_rate`` spaces requests evenly for the whole run, so the org's
other integrations keep their share: zero 429s is the aim, not the retry path.

The pool stands in for both the token source and the budget of one
:class:`~scimctl.scim.transport.Transport`: the transport asks the budget for a
slot, then the token source for a token, then reports the answer, all on one
thread; the pool remembers, per thread, which token it handed out for that slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from scimctl.errors import ConfigError
from scimctl.scim.transport import RateBudget, StaticToken, TokenSource

MAX_TOKENS = 50  # as Genesys's Terraform provider (token_pool_size 1-50)
# Genesys documents 300 requests a minute per client-credentials token; the plan's
# cost estimate assumes it where no max_rate says less.
TOKEN_RATE = 300


@dataclass(frozen=True)
class Budget:
    """How fast a run may go: tokens in the pool and the org ceiling (requests/min)."""

    tokens: int = 1
    max_rate: int | None = None
    # More clients (names of the id and secret variables); tokens go round them all.
    clients: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.tokens <= MAX_TOKENS:
            raise ConfigError(f"tokens: {self.tokens} is not between 1 and {MAX_TOKENS}")
        if self.tokens < 1 + len(self.clients):
            raise ConfigError(
                f"tokens: {self.tokens} is fewer than the {1 + len(self.clients)} clients "
                "(the default pair and target.clients); each client needs a token"
            )
        if self.max_rate is not None and self.max_rate < 1:
            raise ConfigError(f"max_rate: {self.max_rate}/min is below 1/min")

    @property
    def per_minute(self) -> int:
        """Requests a minute the run can make at most: the tokens' limit or the ceiling."""
        pooled = self.tokens * TOKEN_RATE
        return min(pooled, self.max_rate) if self.max_rate else pooled

    @property
    def parallelism(self) -> int:
        """Apply's default workers: enough to keep every token busy at Genesys latency."""
        return min(64, max(8, 4 * self.tokens))

    @property
    def read_concurrency(self) -> int:
        """Pages read at once once totalResults is known, per listing."""
        return min(32, max(4, 2 * self.tokens))


def pool_sources(
    first: TokenSource, budget: Budget, env: Mapping[str, str]
) -> list[TokenSource | StaticToken]:
    """One token source per token, round the default client and ``budget.clients``."""
    clients = [first]
    for id_var, secret_var in budget.clients:
        client_id, secret = env.get(id_var, ""), env.get(secret_var, "")
        if not client_id or not secret:
            raise ConfigError(
                f"target.clients: set {id_var} and {secret_var} (environment or .env)"
            )
        clients.append(first.other_client(client_id, secret, f"{id_var} and {secret_var}"))
    sources: list[TokenSource | StaticToken] = list(clients)
    for i in range(len(clients), budget.tokens):
        sources.append(clients[i % len(clients)].sibling())
    return sources


class _Slots(RateBudget):
    """A RateBudget that can also say when it could send, and take a slot not before
    a given time (the org ceiling's slot comes after the token's)."""

    def ready_at(self) -> float:
        with self._lock:
            return max(self._next_slot, self._blocked_until)

    def reserve(self, now: float, not_before: float = 0.0) -> float:
        with self._lock:
            start = max(now, not_before, self._next_slot, self._blocked_until)
            self._next_slot = start + self.interval
            return start


class TokenPool(RateBudget):
    """The budget side of the pool; :attr:`tokens` is its token side."""

    def __init__(
        self,
        sources: Sequence[TokenSource | StaticToken],
        max_rate: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(clock, sleep)
        if not sources:
            raise ValueError("a token pool needs at least one token source")
        self.sources = list(sources)
        self.budgets = [_Slots(clock, sleep) for _ in sources]
        self.org: _Slots | None = None
        if max_rate:
            self.org = _Slots(clock, sleep)
            self.org.interval = 60.0 / max_rate
        self._used = [0] * len(sources)  # spreads ties (unknown limits) round the pool
        self._current = threading.local()
        self.tokens = _PoolTokens(self)

    def _member(self) -> int:
        return getattr(self._current, "member", 0)

    def acquire(self) -> float:
        """Take the soonest slot of any token (and of the org ceiling); wait for it."""
        with self._lock:
            now = self._clock()
            member = min(
                range(len(self.budgets)), key=lambda i: (self.budgets[i].ready_at(), self._used[i])
            )
            self._used[member] += 1
            start = self.budgets[member].reserve(now)
            if self.org is not None:
                start = self.org.reserve(now, not_before=start)
        self._current.member = member
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(0.0, wait)

    def observe(self, headers: httpx.Headers | dict[str, str], status: int) -> None:
        # The headers (and a 429's Retry-After) describe the token the request used.
        self.budgets[self._member()].observe(headers, status)


class _PoolTokens(StaticToken):
    """The token of the slot this thread was last given."""

    def __init__(self, pool: TokenPool) -> None:
        super().__init__("", getattr(pool.sources[0], "hint", "SCIM_TOKEN"))
        self._pool = pool

    @property
    def fetched(self) -> int:
        return sum(getattr(s, "fetched", 0) for s in self._pool.sources)

    @fetched.setter
    def fetched(self, value: int) -> None:
        pass  # counted by the sources

    def get(self) -> str:
        return self._pool.sources[self._pool._member()].get()

    def invalidate(self, token: str) -> None:
        self._pool.sources[self._pool._member()].invalidate(token)
