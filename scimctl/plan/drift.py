"""Drift: changes made in Genesys, outside scimctl, since scimctl last applied.

The state keeps the attributes scimctl last applied to each managed user and the
memberships it manages; the directory says what they are now and when each user
last changed. Comparing the two finds hand edits before the next apply silently
reverts them. Pure (no I/O): the commands layer reads the directory and the state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from scimctl.model import USER_ATTRIBUTES, Attrs, Snapshot, StateView, same
from scimctl.plan.render import esc as _esc
from scimctl.plan.render import md as _md_cell
from scimctl.text import count


def _md(text: str) -> str:
    return _md_cell(_esc(text))


@dataclass(frozen=True)
class DriftItem:
    key: str  # the user's externalId (or the group name for a membership)
    user_name: str | None
    live_id: str | None
    attribute: str  # a user attribute, "account" (deleted) or "group:NAME" (membership)
    before: Any  # what scimctl last applied
    after: Any  # what the directory holds now
    changed_at: str | None  # when the directory says the user changed, if it says


@dataclass(frozen=True)
class DriftReport:
    workspace: str
    items: tuple[DriftItem, ...]
    managed_users: int

    @property
    def has_drift(self) -> bool:
        return bool(self.items)


def drifted(applied: Attrs, live: Attrs) -> dict[str, tuple[Any, Any]]:
    """Attributes whose live value differs from the last applied one: (before, after)."""
    out = {}
    for attr in USER_ATTRIBUTES:
        if attr not in applied:
            continue
        if not same(attr, applied[attr], live.get(attr)):
            out[attr] = (applied[attr], live.get(attr))
    return out


def compute_drift(workspace: str, state: StateView, snapshot: Snapshot) -> DriftReport:
    by_id = snapshot.index.by_id
    group_members = {g.name: g.members for g in snapshot.groups}
    items: list[DriftItem] = []
    for key in sorted(state.users):
        managed = state.users[key]
        live = by_id.get(managed.id)
        if live is None:
            items.append(
                DriftItem(key, managed.user_name, managed.id, "account", "exists", "deleted", None)
            )
            continue
        for attr, (before, after) in drifted(state.applied.get(key, {}), live.attrs).items():
            items.append(
                DriftItem(key, live.user_name, live.id, attr, before, after, _when(live.modified))
            )
    for group, key in sorted(state.memberships):
        member = state.users.get(key)
        members = group_members.get(group)
        if member is None or members is None or member.id not in by_id:
            continue
        if member.id not in members:
            items.append(
                DriftItem(
                    key, member.user_name, member.id, f"group:{group}", "member", "removed", None
                )
            )
    return DriftReport(workspace, tuple(items), len(state.users))


def _when(text: str | None) -> str | None:
    """The directory's lastModified in the one format people see (no milliseconds)."""
    if not text:
        return text
    from datetime import datetime

    from scimctl.text import iso

    try:
        return iso(datetime.fromisoformat(text.strip()))
    except ValueError:
        return text  # shown as the directory gave it (escaped by the renderers)


def _value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if v is not None else "(unset)"


def render_drift(report: DriftReport, fmt: str) -> str:
    """Text, markdown (for an issue body) or JSON; deterministic order."""
    if fmt == "json":
        doc = {
            "workspace": report.workspace,
            "drift": bool(report.items),
            "managed_users": report.managed_users,
            "changes": [asdict(i) for i in report.items],
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    n = len(report.items)
    head = (
        f"{count(n, 'change')} made outside scimctl"
        if n
        else "No drift: the directory matches what scimctl last applied"
    )
    head += f" ({count(report.managed_users, 'managed user')} in {report.workspace})."
    if fmt == "markdown":
        lines = [f"### scimctl drift report for {_md(report.workspace)}", "", head, ""]
        if report.items:
            lines += [
                "| user | attribute | last applied | now | changed at |",
                "| --- | --- | --- | --- | --- |",
            ]
            for i in report.items:
                who = f"{i.key} ({i.user_name})" if i.user_name else i.key
                cells = [who, i.attribute, _value(i.before), _value(i.after), i.changed_at or "-"]
                lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
            lines += [
                "",
                "The next `scimctl apply` reverts these unless the manifest adopts them.",
            ]
        return "\n".join(lines) + "\n"
    lines = [head]
    for i in report.items:
        who = f"{i.key} ({i.user_name})" if i.user_name else i.key
        when = f"  (changed {i.changed_at})" if i.changed_at else ""
        lines.append(f"  ~ {_esc(who)} {i.attribute}: {_esc(_value(i.before))} -> "
                     f"{_esc(_value(i.after))}{when}")  # fmt: skip
    return "\n".join(lines) + "\n"
