"""Planning: the pure diff engine, the plan document and its renderers.

Importing this package loads no HTTP client and no database driver: the engine is
a function of three values. Reading the directory and recording the run happen in
:mod:`scimctl.commands`.
"""

from __future__ import annotations

from scimctl.errors import PlanFileError, PlanRefused
from scimctl.plan.diff import compute_plan
from scimctl.plan.model import Plan

__all__ = ["Plan", "PlanFileError", "PlanRefused", "compute_plan"]
