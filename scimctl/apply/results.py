"""What a run reports: one ``OpResult`` per node, gathered in an ``ApplyReport``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scimctl.apply.graph import removes_access
from scimctl.plan.model import Action
from scimctl.plan.stored import describe


@dataclass
class OpResult:
    node: str
    actions: list[Action]
    outcome: str  # ok | failed | skipped | partial (some members left out: their create failed)
    error: str | None = None
    status: int | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    # Values the service accepted but did not keep: {attribute: (sent, kept)}.
    not_stored: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class ApplyReport:
    run_id: str
    results: list[OpResult]
    wall_seconds: float
    stopped_early: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # How the run adapted to the service (a fallback taken), one line each.
    learned: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[OpResult]:
        return [r for r in self.results if r.outcome != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped_early is None

    @property
    def not_stored(self) -> list[str]:
        """One line per value a service accepted and did not keep."""
        return [
            f"{r.node}: {describe(name, sent, kept)}"
            for r in self.results
            for name, (sent, kept) in sorted(r.not_stored.items())
        ]

    @property
    def not_deprovisioned(self) -> list[OpResult]:
        """Deactivations and deletions that did not go through: leavers who still
        have access, which the run must say before anything else."""
        return [r for r in self.failed if any(removes_access(a) for a in r.actions)]
