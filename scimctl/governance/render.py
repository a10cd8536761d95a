"""The rules' verdict in a plan: new violations first (they block), then the
existing ones for review, then every exception with its expiry, soonest first."""

from __future__ import annotations

from scimctl.governance.report import ExceptionState, Finding, GovernanceReport
from scimctl.plan.render import esc, md
from scimctl.text import count


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
        "expired": f"expired {count(-e.days_left, 'day')} ago",
        "unused": "covers no violation",
    }.get(e.state, f"{count(e.days_left, 'day')} left")
    return esc(
        f"{e.rule} for {e.user} until {e.until} ({left}), approved by {e.approved_by}: {e.reason}"
    )


def blocking_message(report: GovernanceReport) -> str:
    """The one-line error a blocked plan (or apply) ends with."""
    first = report.blocking[0]
    more = len(report.blocking) - 1
    where = f" ({first.where})" if first.where else ""
    return (
        f"{count(len(report.blocking), 'new policy.rules violation')}: "
        f"{first.rule} user {first.user}: "
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
            f"Needs review: rule violations that exist now ({len(report.existing)}; not blocking):"
        ]
        out += [f"  ! {_finding(f)}" for f in report.existing] + [""]
    if report.exceptions:
        out += [f"Exceptions (as of {report.as_of}, ending soonest first):"]
        out += [f"  {e.state}: {_exception(e)}" for e in report.exceptions] + [""]
    return out


# The rules' share of a pull-request comment; past it, rows are counted per rule
# instead of listed (every row stays in the text plan). Actions keep the rest.
MARKDOWN_BUDGET = 24_000


def markdown_lines(report: GovernanceReport | None, budget: int = MARKDOWN_BUDGET) -> list[str]:
    """Tables of new violations, existing ones and exceptions; within ``budget``
    characters, counted per rule (and saying so) when listing them would not fit."""
    if report is None:
        return []
    full = _markdown(report, summarise=False)
    if sum(len(line) + 1 for line in full) <= budget:
        return full
    return _markdown(report, summarise=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _by_rule(findings: list[Finding]) -> list[str]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    return [f"| {md(esc(rule))} | {n:,} |" for rule, n in sorted(counts.items())]


def _markdown(report: GovernanceReport, summarise: bool) -> list[str]:
    out: list[str] = []
    note = (
        "_Too many to list within the comment limit: counted per rule. `scimctl plan` "
        "(text) lists every one with its user and manifest line._"
    )

    def table(title: str, findings: list[Finding]) -> None:
        nonlocal out
        if summarise:
            out += [
                title,
                "",
                "| Rule | Users |",
                "| --- | --- |",
                *_by_rule(findings),
                "",
                note,
                "",
            ]
            return
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
            "",
        ]
        # Summarised: the 30 ending soonest, each cell shortened, so the comment fits.
        shown = report.exceptions[:30] if summarise else report.exceptions
        width = 80 if summarise else 10_000
        out += ["| State | Rule | User | Until | Approved by | Reason |",
                "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for e in shown:
            left = "expired" if e.state == "expired" else f"{count(e.days_left, 'day')} left"
            cells = [e.state, e.rule, e.user, f"{e.until} ({left})", e.approved_by, e.reason]
            out.append("| " + " | ".join(md(esc(_cut(c, width))) for c in cells) + " |")
        if len(shown) < len(report.exceptions):
            out.append(
                f"\n_{count(len(report.exceptions) - len(shown), 'more exception')}, ending later; "
                "`scimctl report rules` lists them all._"
            )
        out.append("")
    return out
