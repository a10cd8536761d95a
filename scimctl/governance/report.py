"""The rules' verdict as a document: saved in the plan, printed by ``report rules``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(_Doc):
    rule: str
    description: str
    user: str  # the account's key (externalId, else userName)
    detail: str  # what breaks the rule, in words
    where: str | None = None  # the manifest line or CSV row asking for the account
    status: Literal["new", "existing", "excepted"]
    until: str | None = None  # excepted: the exception's last day
    expired: str | None = None  # an exception for this ended on this day


class ExceptionState(_Doc):
    rule: str
    user: str
    reason: str
    until: str
    approved_by: str
    where: str = ""
    state: Literal["active", "expiring", "expired", "unused"]
    days_left: int


class RuleState(_Doc):
    id: str
    description: str
    kind: str
    text: str
    where: str = ""
    state: Literal["holding", "violated", "excepted"]
    violations: int = 0
    excepted: int = 0


class GovernanceReport(_Doc):
    """The rules' verdict on one plan: saved in it so every renderer shows it."""

    as_of: str
    rules: list[RuleState] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    exceptions: list[ExceptionState] = Field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "new"]

    @property
    def existing(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "existing"]
