"""Reports for auditors (``cli/report.py``): who holds what, and the state of every rule."""

from __future__ import annotations

import datetime as dt

from scimctl.governance.access import AccessReport
from scimctl.manifest import Manifest
from scimctl.model import StateView
from scimctl.state.interfaces import AuditLog


def access_report(
    manifest: Manifest, workspace: str, audit: AuditLog, state: StateView, as_of: dt.date
) -> AccessReport:
    """Who held what at the end of ``as_of``, from the journal and state, offline.

    The manifest supplies the why (its lines and rows) and the rules and exceptions
    judged on that day; the history supplies since when and through which change.
    """
    from scimctl.governance.access import build
    from scimctl.records.history import history

    operations = history(audit, limit=2**62, workspace=workspace)
    return build(operations, state, workspace, as_of, manifest.desired)
