"""The rules' verdict in a plan: new violations first (they block), then the
existing ones for review, then every exception with its expiry, soonest first."""

from __future__ import annotations

from scimctl.governance.report import ExceptionState, Finding, GovernanceReport
from scimctl.plan.render import esc, md


def _finding(f: Finding) -> str:
    where = f" ({f.where})" if f.where else ""
    text = f"{f.rule} user {f.user}: {f.detail}{where}"
    if f.expired:
        text += f"; exception expired {f.expired}"
    if f.until:
        text += f"; excepted until {f.until}"
    return esc(text)


def _exception(e: ExceptionState) -> str:
    left = {
        "expired": f"expired {-e.days_left} days ago",
        "unused": "covers no violation",
    }.get(e.state, f"{e.days_left} days left")
    return esc(
        f"{e.rule} for {e.user} until {e.until} ({left}), approved by {e.approved_by}: {e.reason}"
    )


def blocking_message(report: GovernanceReport) -> str:
    """The one-line error a blocked plan (or apply) ends with."""
    first = report.blocking[0]
    more = len(report.blocking) - 1
    where = f" ({first.where})" if first.where else ""
    return (
        f"{len(report.blocking)} new policy.rules violation(s): {first.rule} user {first.user}: "
        f"{first.detail}{where}"
        + (f"; and {more} more" if more else "")
        + "; change the manifest or add a policy.exceptions entry"
    )


def text_lines(report: GovernanceReport | None) -> list[str]:
    if report is None:
        return []
    out: list[str] = []
    if report.blocking:
        out += [
            f"Rule violations this plan would create ({len(report.blocking)}; cannot be applied):"
        ]
        out += [f"  x {_finding(f)}" for f in report.blocking] + [""]
    if report.existing:
        out += [
            f"Needs review: {len(report.existing)} rule violations existing already (not blocking):"
        ]
        out += [f"  ! {_finding(f)}" for f in report.existing] + [""]
    if report.exceptions:
        out += [f"Exceptions (as of {report.as_of}, ending soonest first):"]
        out += [f"  {e.state}: {_exception(e)}" for e in report.exceptions] + [""]
    return out


def markdown_lines(report: GovernanceReport | None) -> list[str]:
    if report is None:
        return []
    out: list[str] = []

    def table(title: str, findings: list[Finding]) -> None:
        nonlocal out
        out += [title, "", "| Rule | User | Why | Where |", "| --- | --- | --- | --- |"]
        for f in findings:
            why = f.detail + (f"; exception expired {f.expired}" if f.expired else "")
            cells = (f.rule, f.user, why, f.where or "")
            out.append("| " + " | ".join(md(esc(c)) for c in cells) + " |")
        out.append("")

    if report.blocking:
        table(
            f"#### Rule violations this plan creates ({len(report.blocking)}): cannot be applied",
            report.blocking,
        )
    if report.existing:
        table(
            f"#### Needs review: existing rule violations ({len(report.existing)}, not blocking)",
            report.existing,
        )
    if report.exceptions:
        out += [
            f"#### Exceptions ({len(report.exceptions)}, as of {report.as_of}, soonest end first)",
            "", "| State | Rule | User | Until | Approved by | Reason |",
            "| --- | --- | --- | --- | --- | --- |",
        ]  # fmt: skip
        for e in report.exceptions:
            left = "expired" if e.state == "expired" else f"{e.days_left} days left"
            cells = [e.state, e.rule, e.user, f"{e.until} ({left})", e.approved_by, e.reason]
            out.append("| " + " | ".join(md(esc(c)) for c in cells) + " |")
        out.append("")
    return out
