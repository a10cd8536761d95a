"""Search lag: listings and filters that see each write only some seconds later.

Genesys Cloud answers ``GET /Users/{id}`` from the store, but listings and filters
from a search index that catches up with writes after a while (the Terraform
provider waits up to three minutes for it). :class:`SearchIndex` keeps, per
resource, the copies written in the last ``lag`` seconds plus the newest one older
than that, so a listing can show each resource as it was ``lag`` seconds ago:
absent if it was created since, at its older version if it changed since.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable

from scimctl.emulator.resource import Resource


class SearchIndex:
    """Time-stamped copies of resources, read back as they were ``lag`` seconds ago."""

    def __init__(self, lag: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lag = lag
        self._clock = clock
        self._history: dict[str, list[tuple[float, Resource]]] = {}

    def prime(self, resources: Iterable[Resource]) -> None:
        """What exists before the emulator starts (the seed) is indexed already."""
        for res in resources:
            self._history[res.id] = [(float("-inf"), _copy(res))]

    def record(self, res: Resource) -> None:
        """Called after every write; the copy becomes searchable ``lag`` seconds later."""
        now = self._clock()
        history = self._history.setdefault(res.id, [])
        history.append((now, _copy(res)))
        # Keep the newest copy that is already visible and everything after it.
        horizon = now - self.lag
        visible = [i for i, (at, _) in enumerate(history) if at <= horizon]
        if visible and visible[-1] > 0:
            del history[: visible[-1]]

    def view(self, ids: Iterable[str]) -> list[Resource]:
        """The searchable copy of each resource, in the order of ``ids``; unseen ones left out."""
        horizon = self._clock() - self.lag
        out = []
        for rid in ids:
            seen = None
            for at, res in self._history.get(rid, ()):
                if at > horizon:
                    break
                seen = res
            if seen is not None:
                out.append(seen)
        return out


def _copy(res: Resource) -> Resource:
    return Resource(
        id=res.id,
        doc=copy.deepcopy(res.doc),
        version=res.version,
        created=res.created,
        modified=res.modified,
        deleted=res.deleted,
    )
