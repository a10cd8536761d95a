"""Rendering a plan for people: terminal text, a pull-request comment, or JSON.

Every renderer works from the :class:`Plan` value alone, so ``plan`` and ``show``
print the same thing. Markdown is bounded to GitHub's comment limit however
large the plan is, and says what it left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import click

from scimctl.plan.model import KIND_ORDER, Action, Plan

GITHUB_COMMENT_LIMIT = 65_536
EMAIL_RE = re.compile(r"([A-Za-z0-9._%+!#$&'*/=?^`{|}~-]+)@([A-Za-z0-9.-]+)")
PERSONAL = ("displayName", "userName", "phoneNumbers", "title", "employeeNumber")

SYMBOLS = {
    "create": "+", "adopt": "<=", "rekey": "~", "update": "~", "reactivate": "~", "deactivate": "-",
    "delete": "-", "forget": "-", "add_members": "+", "remove_members": "-",
}  # fmt: skip
COLOURS = {"+": "green", "~": "yellow", "<=": "cyan", "-": "red"}
LABELS = {
    "create": "to create", "adopt": "to adopt", "rekey": "to re-key", "update": "to update",
    "reactivate": "to reactivate", "deactivate": "to deactivate", "delete": "to delete",
    "forget": "to forget", "add_members": "groups gaining members",
    "remove_members": "groups losing members",
}  # fmt: skip


class Redactor:
    """Masks personal data: emails keep their domain, names and numbers disappear."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def email(self, value: str | None) -> str:
        if value is None:
            return "-"
        if not self.enabled:
            return value
        return EMAIL_RE.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", value)

    def value(self, attr: str, value: Any) -> str:
        if value is None:
            return "(unset)"
        if self.enabled and attr in PERSONAL:
            return self.email(value) if attr == "userName" else "***"
        return json.dumps(value, ensure_ascii=False)


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return "No changes. The directory matches the manifest."
    parts = [f"{n} {LABELS[k]}" for k, n in plan.summary.counts.items() if n]
    return "Plan: " + ", ".join(parts) + "."


def _headline(a: Action, r: Redactor) -> str:
    if a.resource == "group":
        n = len(a.members)
        verb = "add" if a.kind == "add_members" else "remove"
        prep = "to" if a.kind == "add_members" else "from"
        return f"{verb} {n} member{'s' if n != 1 else ''} {prep} group {a.key!r}"
    who = f"user {a.key} ({r.email(a.userName)})"
    return f"{a.kind} {who}" + (f"  # {a.reason}" if a.reason else "")


def _details(a: Action, r: Redactor) -> list[str]:
    if a.resource == "group":
        return [r.email(m.userName) or m.id or "?" for m in a.members]
    lines = []
    width = max((len(k) for k in a.changes), default=0)
    for attr, change in a.changes.items():
        after = r.value(attr, change.after)
        if a.kind == "create":
            lines.append(f"{attr.ljust(width)} = {after}")
        else:
            lines.append(f"{attr.ljust(width)} : {r.value(attr, change.before)} -> {after}")
    return lines


def render_text(plan: Plan, redact: bool = False, color: bool = False) -> str:
    r = Redactor(redact)
    style: Callable[[str, str], str] = (
        (lambda text, sym: click.style(text, fg=COLOURS[sym])) if color else (lambda t, s: t)
    )
    out = [f"Workspace: {plan.workspace}  (state serial {plan.state['serial']})", ""]
    if plan.has_changes:
        out.append("scimctl will perform these actions:")
        out.append("")
    for a in plan.actions:
        sym = SYMBOLS[a.kind]
        out.append(style(f"  {sym} {_headline(a, r)}", sym))
        out.extend(f"        {line}" for line in _details(a, r))
    if plan.has_changes:
        out.append("")
    out.append(summary_line(plan))
    s = plan.summary
    if s.unmanaged_users or s.unmanaged_members:
        out.append(
            f"Left alone: {s.unmanaged_users} live users and {s.unmanaged_members} group "
            "memberships that scimctl does not manage."
        )
    return "\n".join(out) + "\n"


def render_json(plan: Plan) -> str:
    return plan.to_json()


def render_markdown(
    plan: Plan, redact: bool = False, color: bool = False, limit: int = GITHUB_COMMENT_LIMIT
) -> str:
    """A pull-request comment: summary first, details folded, always under ``limit``."""
    r = Redactor(redact)
    head = [f"### scimctl plan for `{plan.workspace}`", "", f"**{summary_line(plan)}**", ""]
    if plan.has_changes:
        head += ["| Action | Count |", "| --- | ---: |"]
        head += [f"| {k} | {n} |" for k, n in plan.summary.counts.items() if n]
        head.append("")
    s = plan.summary
    head.append(
        f"Managed users: {s.managed_users} · left alone: {s.unmanaged_users} live users, "
        f"{s.unmanaged_members} memberships · state serial {plan.state['serial']} · "
        f"manifest `{plan.manifest_digest[:19]}`"
    )
    head.append("")
    footer_room = 400
    budget = limit - footer_room - len("\n".join(head))
    body: list[str] = []
    shown = 0
    for kind in KIND_ORDER:
        actions = [a for a in plan.actions if a.kind == kind]
        if not actions:
            continue
        section = [f"<details><summary>{kind} ({len(actions)})</summary>", ""]
        section += ["| | Resource | Details |", "| --- | --- | --- |"]
        close = ["", "</details>", ""]
        budget -= len("\n".join(section + close)) + 2
        if budget < 0:
            break
        rows = []
        for a in actions:
            detail = "<br>".join(_md(d) for d in _details(a, r)[:50])
            if a.resource == "group" and len(a.members) > 50:
                detail += f"<br>… and {len(a.members) - 50} more"
            row = f"| {SYMBOLS[a.kind]} | {_md(_headline(a, r))} | {detail} |"
            budget -= len(row) + 1
            if budget < 0:
                break
            rows.append(row)
        body += section + rows + close
        shown += len(rows)
        if budget < 0:
            break
    out = head + body
    if shown < len(plan.actions):
        out.append(
            f"_{len(plan.actions) - shown} of {len(plan.actions)} actions are not shown to stay "
            "under GitHub's comment limit; run `scimctl show plan.json` for all of them._"
        )
    text = "\n".join(out) + "\n"
    assert len(text) <= limit
    return text


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


RENDERERS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": lambda plan, redact=False, color=False: render_json(plan),
}
