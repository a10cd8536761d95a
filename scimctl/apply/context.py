"""What the writers of one run share: the directory they write to, the store, the ids
this run created, the fallbacks it learned, and the clock.

``DirectoryWrites`` is the set of directory calls apply makes; ``ScimClient`` is the
real one. It is a protocol so that the executor can be tested against a small
in-process directory (tests/fakes.py) rather than through HTTP. The clock and
sleep are injected as the transport's are (scimctl/scim/transport.py), so a test
drives a lookup that waits three minutes in milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from scimctl.errors import ApiError, OperationFailed
from scimctl.model import DeletedUser, LiveGroup, LiveUser
from scimctl.plan.model import Action, Plan
from scimctl.scim.transport import TransportStats
from scimctl.state.interfaces import ExecutorStore

# A version conflict on content that did not change is retried with the fresh
# version; a writer that keeps changing the resource wins after this many tries.
VERSION_RETRIES = 3
# How often a create whose outcome stays unknown is sent, looked up after each.
CREATE_ATTEMPTS = 6

# What a node writes to the state once its requests succeeded (inside the journal's
# transaction for the result, so both land or neither does).
Commit = Callable[[Any], None]

T = TypeVar("T")


class DirectoryWrites(Protocol):
    """The directory calls apply makes; ``ScimClient`` is the real one.

    Every call takes ``trace=`` (a ``RequestTrace``) to count the attempts of one
    operation; ``request_stats`` counts every request of the run, for its metrics.
    """

    users_path: str
    groups_path: str
    search_wait: float  # how long a create of unknown outcome is looked up
    conflict_wait: float  # how long a 409 after an unknown outcome is looked up

    @property
    def request_stats(self) -> TransportStats: ...

    def create_user(self, body: dict[str, Any], **kw: Any) -> LiveUser: ...

    def patch_user(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser: ...

    def restore_user(self, user_id: str, version: int, **kw: Any) -> None: ...

    def delete_user(self, user_id: str, version: str | None, **kw: Any) -> None: ...

    def find_user(
        self, external_id: str | None = None, user_name: str | None = None, **kw: Any
    ) -> LiveUser | None: ...

    def find_deleted_user(self, user_name: str, **kw: Any) -> DeletedUser | None: ...

    def get_user(self, user_id: str, **kw: Any) -> LiveUser | None: ...

    def get_group(self, group_id: str, **kw: Any) -> LiveGroup: ...

    def find_group(self, display_name: str, **kw: Any) -> LiveGroup | None: ...

    def create_group(self, name: str, **kw: Any) -> LiveGroup: ...

    def patch_group(
        self, group_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> str | None: ...


class RunContext:
    """One run's shared values; every write to them goes under ``lock`` (apply's
    workers are threads).

    ``lock`` is the innermost lock: nothing is asked of the store or the service while
    it is held, and it is never taken inside a store transaction. A worker that held it
    while reading the state, as another waited for it inside a transaction, deadlocked
    the run."""

    def __init__(
        self,
        plan: Plan,
        client: DirectoryWrites,
        store: ExecutorStore,
        run_id: str,
        *,
        on_password: Callable[[dict[str, Any], str], bool] | None = None,
        outbox: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self.client = client
        self.store = store
        self.run_id = run_id
        self.workspace = plan.workspace
        self.on_password = on_password
        self.outbox = outbox
        self.clock = clock
        self.sleep = sleep
        self.lock = threading.Lock()
        self.created: dict[str, str] = {}  # user key -> live id, for group nodes
        self.created_groups: dict[str, LiveGroup] = {}  # group name -> the group created
        # The client says how it writes emails and phoneNumbers first (a fake need not).
        self.fallbacks = Fallbacks(getattr(client, "multi_valued", "entry"), self.lock)

    def created_id(self, action: Action) -> str | None:
        """The live id this run gave the action's resource, if it created it."""
        with self.lock:
            if action.resource == "group":
                group = self.created_groups.get(action.key)
                return group.id if group else None
            return self.created.get(action.key)

    def look_again(self, find: Callable[[], T | None], wait: float) -> T | None:
        """``find()``, asked again with backoff for ``wait`` seconds until it finds
        something: search may not show a write yet."""
        deadline = self.clock() + wait
        pause = 0.1
        while True:
            found = find()
            if found is not None:
                return found
            left = deadline - self.clock()
            if left <= 0:
                return None
            self.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)


class Fallbacks:
    """How the run writes what services disagree on, switched once for the rest of
    the run when the service refuses the first form; each switch noted once."""

    def __init__(self, multi_valued: str, lock: threading.Lock) -> None:
        self._lock = lock
        # "entry" or "whole": how emails and phoneNumbers are written (scim/entries.py).
        # Genesys documents the whole form; RFC services get entries until one refuses.
        self.multi_valued = multi_valued
        # "filter" or "value": how member removals are sent (scimctl/apply/groups.py).
        self.member_removal = "filter"
        self.learned: list[str] = []  # what the run learned about the service, once each

    def switch(self, setting: str, value: str, note: str) -> None:
        """Switch a fallback on for the rest of the run, noting it once."""
        with self._lock:
            if getattr(self, setting) == value:
                return
            setattr(self, setting, value)
            self.learned.append(note)


# What a refusal of the filter form of a member removal looks like, as opposed to a
# filter that matched nothing (noTarget) or a stale version: the service does not
# take that form, and the value form is worth one try.
_REFUSED_FORM = {None, "invalidPath", "invalidFilter", "invalidSyntax", "invalidValue"}


def filter_form_refused(exc: ApiError) -> bool:
    return exc.status == 501 or (exc.status == 400 and exc.scim_type in _REFUSED_FORM)


def live_id(action: Action) -> str:
    """The live id of the account or group an action writes to; the plan always has one
    for every kind but create (an edited file without it is refused before this)."""
    if action.live_id is None:
        raise OperationFailed(f"{action.id}: the plan gives no live id to write to")
    return action.live_id
