"""Running an approved plan against the service."""

from scimctl.apply.run import StalePlan, apply_plan

__all__ = ["StalePlan", "apply_plan"]
