"""Warnings a reviewer must see that are not actions.

They travel in the Plan document (``Plan.warnings``), so every renderer shows
them and ``--detailed-exitcode`` does not report "nothing to review".
"""

from __future__ import annotations

from scimctl.model import Desired, Snapshot, StateView
from scimctl.text import count


def new_state_warnings(desired: Desired, snapshot: Snapshot, state: StateView) -> list[str]:
    """Warn when a brand-new state faces accounts that look managed already.

    A state that went missing (a CI secret unset, another runner's disk) looks
    exactly like a new one: every managed account becomes an adoption and every
    leaver is left alone instead of being deactivated. Accounts that carry an
    externalId but are not in the manifest are the leavers scimctl would forget.
    """
    if state.serial or state.lineage or state.users:
        return []
    # An account the same plan re-keys (previousExternalIds) is accounted for.
    keys = set(desired.users) | {k for u in desired.users.values() for k in u.previous_keys}
    orphans = sum(1 for u in snapshot.users if u.external_id and u.external_id not in keys)
    if not orphans:
        return []
    accounts = count(
        orphans, "account carries an externalId but is", "accounts carry externalIds but are"
    )
    return [
        f"state is new: {accounts} not in the manifest; if scimctl managed "
        "them, point --state at the existing state"
    ]
