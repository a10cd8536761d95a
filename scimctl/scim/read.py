"""The one read of the directory a plan is computed from.

``plan`` and apply's recomputation both read through :func:`read_directory` (called
by :func:`scimctl.apply.recompute.recompute`), so the reviewed plan and the plan
recomputed before writing can never be computed from different reads.
"""

from __future__ import annotations

import dataclasses

from scimctl.errors import InputError
from scimctl.model import Desired, Snapshot, StateView
from scimctl.plan.grants import dropped_roles
from scimctl.scim.client import GenesysClient, ScimClient
from scimctl.scim.fresh import freshen
from scimctl.scim.routing import with_routing


def read_directory(client: ScimClient, desired: Desired, state: StateView) -> Snapshot:
    """Users, groups and roles; the routing skills and languages the manifest names;
    and, since listings lag behind writes, a fresh read by id of every account the
    state knows that the listing misses or shows older than state recorded.

    First, what the manifest needs of the service and the service lacks refuses
    the plan (and apply's recomputation) before anything is read (scim/needs.py)."""
    client.limits = desired.limits
    problems = client.unsupported(desired)
    if problems:
        raise InputError(problems)
    snapshot = with_routing(client.snapshot(), desired, client)
    return with_grants(client, freshen(client, snapshot, state), desired, state)


def with_all_grants(client: ScimClient, snapshot: Snapshot) -> Snapshot:
    """The direct grants of every role (import: which roles are held beyond the
    user's own division); one paged listing per role."""
    if not isinstance(client, GenesysClient) or snapshot.divisions is None:
        return snapshot
    grants = client.read_grants(list(snapshot.roles), snapshot.divisions)
    names = frozenset(r.name for r in snapshot.roles)
    return dataclasses.replace(snapshot, grants=grants, grant_roles=names)


def with_grants(
    client: ScimClient, snapshot: Snapshot, desired: Desired, state: StateView | None = None
) -> Snapshot:
    """The direct grants of every role the manifest scopes by division, and of every
    role scimctl granted to a user whose ``roles`` are additive (so a role dropped from
    the manifest loses only scimctl's grants): one paged ``subjectgrants`` listing per
    role (Platform API), not one read per user."""
    scoped = {s.role for spec in desired.users.values() for s in spec.scopes}
    applied = state.applied if state is not None else {}
    for key, spec in desired.users.items():
        mode = desired.ownership.mode(key, "roles") if desired.ownership else "authoritative"
        for k in (key, *spec.previous_keys):
            scoped |= dropped_roles(spec, mode, applied.get(k))
    if not scoped or not isinstance(client, GenesysClient):
        return snapshot
    roles = [r for r in snapshot.roles if r.name in scoped]
    grants = client.read_grants(roles, snapshot.divisions)
    return dataclasses.replace(
        snapshot, grants=grants, grant_roles=frozenset(r.name for r in roles)
    )


def with_deleted(client: ScimClient, snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with Genesys's deleted accounts (Platform API), whose userNames stay
    reserved though SCIM cannot see them; a create meeting one becomes a restore."""
    if not isinstance(client, GenesysClient):
        return snapshot
    return dataclasses.replace(snapshot, deleted=tuple(client.list_deleted_users()))
