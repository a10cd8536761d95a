"""Reading a restored account back: what did not stick is reported, never assumed.

Genesys brings a deleted account back in the Home division, without roles, and drops
what it pleases on the way (docs/genesys.md, Deleted accounts). After the restore and the
PATCH of every desired attribute, apply reads the account by id and compares; the
operation is then ``partial`` with the attributes that differ, its state records the
account as it now is, and the next plan sets them again.
"""

from __future__ import annotations

from typing import Any

from scimctl.model import LiveUser, same


def not_restored(wanted: dict[str, Any], live: LiveUser | None) -> list[str]:
    """The attributes of ``wanted`` the account read back does not hold."""
    if live is None:
        return sorted(wanted)
    return sorted(k for k, v in wanted.items() if not same(k, live.attrs.get(k), v))
