"""Every exit status scimctl ends with, in one place, so scripts can tell them apart.

Scripts branch on these (``plan --detailed-exitcode`` in CI, the example workflows'
apply step), so no two situations a script must treat differently share a code:
"changes present" (2) is never also "you typed the command wrong", and an apply that
ran and left some operations undone is not the same as one that never started.
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
"""Success; with ``--detailed-exitcode``: nothing to change (no drift)."""

ERROR: Final = 1
"""An error before anything was changed (bad input, unreachable service, state, refusal),
or a check that found problems."""

CHANGES: Final = 2
"""Only with ``--detailed-exitcode``: the plan has changes or warnings, or there is drift."""

NOT_DEPROVISIONED: Final = 3
"""apply ran, and a deactivation or deletion did not go through: leavers still have access."""

PARTLY_FAILED: Final = 4
"""apply ran, and some operations failed (none of them a deprovisioning): what succeeded
is recorded; plan again to see what is left."""

USAGE: Final = 64
"""The command line is wrong (unknown option, missing argument): BSD's ``EX_USAGE``."""

INTERRUPTED: Final = 130
"""Ctrl-C (128 + SIGINT), as shells report it."""
