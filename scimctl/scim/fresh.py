"""Reading past a lagging search index.

Genesys answers listings and filters from a search index that trails writes (by up
to minutes: docs/genesys.md, Search lags writes) while a GET by id is current. Right after an
apply, a listing may not show the accounts just created, or may show them at the
version before the last write; a plan made from it would create them again or send
a stale If-Match. The state knows better: it records the id and version of every
account it manages and the memberships it made. :func:`freshen` fetches by id what
the listing is missing or shows older than state recorded, and uses that instead.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

from scimctl.errors import ApiError
from scimctl.model import LiveGroup, LiveUser, ManagedUser, Snapshot, StateView
from scimctl.scim.client import ScimClient


def older(listed: str | None, recorded: str | None) -> bool:
    """Whether the listed version is behind the one state recorded.

    Genesys versions are integers (ETags like ``"7"``); an opaque pair that differs
    counts as behind, since a GET by id costs one request and is always right."""
    if not recorded or listed == recorded:
        return False
    a, b = _number(listed), _number(recorded)
    if a is not None and b is not None:
        return a < b
    return True


def _number(version: str | None) -> int | None:
    text = (version or "").removeprefix("W/").strip('"')
    return int(text) if text.isdigit() else None


def freshen(
    client: ScimClient, snapshot: Snapshot, state: StateView, concurrency: int = 8
) -> Snapshot:
    """``snapshot`` with every account and group the listing showed stale read by id."""
    index = snapshot.index

    def stale(m: ManagedUser) -> bool:
        live = index.by_id.get(m.id)
        return live is None or older(live.version, m.version)

    users = sorted({m.id for m in state.users.values() if stale(m)})
    owned = {m.id for m in state.users.values()}
    expected: dict[str, set[str]] = {}
    for group, key in state.memberships:
        if key in state.users:
            expected.setdefault(group, set()).add(state.users[key].id)
    groups = [g for g in snapshot.groups if g.members & owned != expected.get(g.name, set())]
    if not users and not groups:
        return snapshot
    with ThreadPoolExecutor(concurrency) as pool:
        fresh_users = [u for u in pool.map(client.get_user, users) if u is not None]
        fresh_groups = list(pool.map(lambda g: _group(client, g), groups))
    by_id: dict[str, LiveUser] = {u.id: u for u in snapshot.users}
    by_id.update({u.id: u for u in fresh_users})
    group_by_id: dict[str, LiveGroup] = {g.id: g for g in snapshot.groups}
    group_by_id.update({g.id: g for g in fresh_groups})
    return dataclasses.replace(
        snapshot,
        users=tuple(sorted(by_id.values(), key=lambda u: u.id)),
        groups=tuple(sorted(group_by_id.values(), key=lambda g: g.name)),
    )


def _group(client: ScimClient, listed: LiveGroup) -> LiveGroup:
    try:
        return client.get_group(listed.id)
    except ApiError as exc:
        if exc.status == 404:  # gone since the listing: the checks will say so
            return listed
        raise
