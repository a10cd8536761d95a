"""Running an approved plan against the service."""

from scimctl.apply.guard import check_reviewed, policy_violations
from scimctl.apply.run import Recheck, apply_plan, check_target
from scimctl.errors import PlanNotReviewed, StalePlan

__all__ = [
    "PlanNotReviewed",
    "Recheck",
    "StalePlan",
    "apply_plan",
    "check_reviewed",
    "check_target",
    "policy_violations",
]
