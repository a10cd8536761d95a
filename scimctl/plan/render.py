"""Rendering a plan for people: terminal text, a pull-request comment, or JSON.

Every renderer works from the :class:`Plan` value alone and orders everything by
the canonical orders (kinds, effects, attributes), never by the order a dict
happens to have, so a plan printed as computed and the same plan loaded from its
file render to the same bytes.

Review comes first: actions that take access away or change privileges are listed
in full under "Needs review", and when a comment must be cut to fit GitHub, only
low-risk actions are left out and the comment says which. Anything odd coming from
the live directory (newlines, escapes, bidi overrides) is shown escaped, so it can
neither fake a line of the plan nor break a markdown table.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from scimctl.model import USER_ATTRIBUTES
from scimctl.model.grants import grant_names
from scimctl.plan.cost import cost_line
from scimctl.plan.grants import grant_lines
from scimctl.plan.model import EFFECT_ORDER, KIND_ORDER, Action, Plan
from scimctl.plan.redact import redact_plan
from scimctl.text import count

GITHUB_COMMENT_LIMIT = 65_536
MEMBERS_SHOWN = 50  # per low-risk group action in markdown; review rows show all
ATTRIBUTE_ORDER = ("externalId", *USER_ATTRIBUTES)
# When a comment must be cut, actions are kept in this order: additions and creates
# are the first to go.
KEEP_ORDER = (
    "delete", "deactivate", "remove_members", "reactivate", "grants", "restore", "update", "adopt",
    "forget", "release", "create", "create_group", "add_members",
)  # fmt: skip

SYMBOLS = {
    "create": "+", "adopt": "<=", "rekey": "~", "update": "~", "reactivate": "~", "deactivate": "-",
    "delete": "-", "forget": "-", "add_members": "+", "remove_members": "-",
    "restore": "+", "release": "-", "create_group": "+", "grants": "~",
}  # fmt: skip
# ANSI foreground colours (green, yellow, cyan, red), written here so the engine needs
# no terminal library; cli/ decides whether to ask for them.
COLOURS = {"+": 32, "~": 33, "<=": 36, "-": 31}
# (singular, plural) after a count.
KIND_LABELS = {
    "create": ("to create", "to create"),
    "adopt": ("to adopt", "to adopt"),
    "rekey": ("to re-key", "to re-key"),
    "update": ("to update", "to update"),
    "reactivate": ("to reactivate", "to reactivate"),
    "grants": ("user's grants to change", "users' grants to change"),
    "deactivate": ("to deactivate", "to deactivate"),
    "delete": ("to delete", "to delete"),
    "forget": ("to forget", "to forget"),
    "restore": ("to restore", "to restore"),
    "release": ("to release", "to release"),
    "create_group": ("group to create", "groups to create"),
    "add_members": ("group gaining members", "groups gaining members"),
    "remove_members": ("group losing members", "groups losing members"),
}
EFFECT_LABELS = {
    "deletion": ("deletion", "deletions"),
    "deactivation": ("deactivation", "deactivations"),
    "reactivation": ("reactivation", "reactivations"),
    "privileged_role_granted": ("privileged role granted", "privileged roles granted"),
    "role_granted": ("non-privileged role granted", "non-privileged roles granted"),
    "role_removed": ("role removed", "roles removed"),
    "grant_removed": ("grant removed", "grants removed"),
    "grant_added": ("grant added", "grants added"),
    "group_removal": ("removal from a group", "removals from groups"),
    "username_change": ("userName change", "userName changes"),
    "rekey": ("re-key to a new externalId", "re-keys to new externalIds"),
    "adoption": ("adoption", "adoptions"),
    "restore": ("restore of a deleted account", "restores of deleted accounts"),
    "release": ("account released from management", "accounts released from management"),
    "reverts_drift": ("reverts a change made in Genesys", "revert changes made in Genesys"),
    "group_creation": ("new group", "new groups"),
}
ROLE_EFFECTS = (
    "privileged_role_granted", "role_granted", "role_removed", "grant_removed", "grant_added",
)  # fmt: skip

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def plural(n: int, forms: tuple[str, str]) -> str:
    """A count with the (singular, plural) label pairs above, through the one helper."""
    return count(n, *forms)


def esc(text: str, backslash: bool = True) -> str:
    """Control, format and separator characters as visible escapes: a newline in an
    externalId must not print a fake plan line, an ESC must not drive the terminal and
    a bidi override must not reorder what the reviewer reads. Backslashes are doubled
    so that an escape cannot be forged by typing one."""
    out = []
    for ch in text:
        if ch == "\\" and not backslash:
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def value(v: Any) -> str:
    if v is None:
        return "(unset)"
    # json.dumps escapes C0 and backslashes itself; esc() takes the rest (C1, bidi).
    return esc(json.dumps(v, ensure_ascii=False), backslash=False)


PROFICIENCIES = ("routingSkills", "routingLanguages")


def shown(attr: str, v: Any) -> str:
    """A value as the manifest writes it: proficiencies as ``Billing:4``."""
    if attr in PROFICIENCIES and isinstance(v, list):
        v = [
            f"{p[0]}:{p[1]:g}" if isinstance(p, list | tuple) and len(p) == 2
            and isinstance(p[1], int | float) else p
            for p in v
        ]  # fmt: skip
    return value(v)


def ordered_changes(a: Action) -> list[str]:
    known = [k for k in ATTRIBUTE_ORDER if k in a.changes]
    return known + sorted(k for k in a.changes if k not in ATTRIBUTE_ORDER)


def summary_lines(plan: Plan) -> list[str]:
    """The plan's counts in words, the same everywhere: kinds, then effects, then
    what scimctl leaves alone."""
    s = plan.summary
    lines = []
    if not plan.has_changes:
        lines.append("No changes. The directory matches the manifest.")
    else:
        parts = [plural(s.counts[k], KIND_LABELS[k]) for k in KIND_ORDER if s.counts.get(k)]
        lines.append("Plan: " + ", ".join(parts) + ".")
        if plan.cost is not None:
            lines.append(cost_line(plan.cost))
        effects = []
        for key in EFFECT_ORDER:
            n = s.effects.get(key, 0)
            if not n:
                continue
            text = plural(n, labels(key, plan.target.provider))
            adopted = s.through_adoption.get(key, 0)
            if adopted:
                text += f" ({adopted} through adoption)"
            effects.append(text)
        if effects:
            lines.append("Effects: " + ", ".join(effects) + ".")
    if s.unmanaged_users or s.unmanaged_members:
        lines.append(
            f"Left alone: {plural(s.unmanaged_users, ('live user', 'live users'))} and "
            f"{plural(s.unmanaged_members, ('group membership', 'group memberships'))} "
            "that scimctl does not manage."
        )
    return lines


def headline(a: Action) -> str:
    if a.kind == "create_group":
        return f"create group '{esc(a.key)}'"
    if a.resource == "group":
        verb, prep = ("add", "to") if a.kind == "add_members" else ("remove", "from")
        members = plural(len(a.members), ("member", "members"))
        return f"{verb} {members} {prep} group '{esc(a.key)}'"
    who = f"user {esc(a.key)} ({esc(a.userName) if a.userName else '-'})"
    if a.kind == "grants":
        return f"change grants of {who}"
    return f"{a.kind} {who}" + (f"  # {esc(a.reason)}" if a.reason else "")


def labels(key: str, provider: str = "genesys") -> tuple[str, str]:
    """An effect's label, naming the target's kind: "the directory" for any SCIM
    service that is not Genesys Cloud."""
    forms = EFFECT_LABELS[key]
    if provider == "genesys":
        return forms
    return (
        forms[0].replace("Genesys", "the directory"),
        forms[1].replace("Genesys", "the directory"),
    )


def effects_text(a: Action, provider: str = "genesys") -> str:
    parts = []
    for key in EFFECT_ORDER:
        found = [e for e in a.effects if e.summary_key == key]
        if not found:
            continue
        if key in ROLE_EFFECTS or key == "reverts_drift":
            names = ", ".join(esc(e.subject or "?") for e in found)
            parts.append(f"{labels(key, provider)[0 if len(found) == 1 else 1]}: {names}")
        elif key == "group_removal":
            parts.append(plural(len(found), ("removal from the group", "removals from the group")))
        else:
            parts.append(EFFECT_LABELS[key][0])
    return "; ".join(parts)


def details(a: Action, members_shown: int | None = None) -> list[str]:
    if a.kind == "create_group":
        return [f"displayName = {value(a.key)}"]
    if a.resource == "group":
        names = [esc(m.userName or m.key or m.id or "?") for m in a.members]
        if members_shown is not None and len(names) > members_shown:
            return [*names[:members_shown], f"… and {len(names) - members_shown} more"]
        return names
    if a.kind == "grants":
        return [esc(line) for line in grant_lines(a)]
    attrs = ordered_changes(a)
    width = max((len(k) for k in attrs), default=0)
    lines = []
    for attr in attrs:
        c = a.changes[attr]
        if a.kind in ("create", "restore"):
            lines.append(f"{attr.ljust(width)} = {shown(attr, c.after)}")
        else:
            lines.append(f"{attr.ljust(width)} : {shown(attr, c.before)} -> {shown(attr, c.after)}")
    return lines


def _split(plan: Plan) -> tuple[list[Action], list[Action]]:
    review = [a for a in plan.actions if a.needs_review]
    return review, [a for a in plan.actions if not a.needs_review]


def _sorted(actions: Iterable[Action]) -> list[Action]:
    return sorted(actions, key=lambda a: (KIND_ORDER.index(a.kind), a.key))


def review_rank(a: Action) -> int:
    """Where an action goes in "Needs review": deletions, then deactivations, then
    access removed (roles, memberships), then access granted, then the rest."""
    kinds = {e.kind for e in a.effects}
    if a.kind == "delete" or "deletion" in kinds:
        return 0
    if a.kind == "deactivate" or "deactivation" in kinds:
        return 1
    if a.kind == "remove_members" or kinds & {"role_removed", "group_removal"}:
        return 2
    if a.kind == "add_members" or "role_granted" in kinds:
        return 3
    return 4


def _review_sorted(actions: Iterable[Action]) -> list[Action]:
    return sorted(actions, key=lambda a: (review_rank(a), KIND_ORDER.index(a.kind), a.key))


def render_text(plan: Plan, color: bool = False) -> str:
    style: Callable[[str, str], str] = (
        (lambda text, sym: f"\x1b[{COLOURS[sym]}m{text}\x1b[0m") if color else (lambda t, s: t)
    )
    review, other = _split(plan)
    out = [f"Workspace: {esc(plan.workspace)}  (state serial {plan.state.serial})", ""]
    out += [f"Warning: {esc(w)}" for w in plan.warnings] + ([""] if plan.warnings else [])
    if plan.review.redacted:
        out += [f"Redacted: {', '.join(plan.review.redact)} are masked.", ""]
    if plan.partial:
        out += [style(partial_warning(plan), "-"), ""]
    out += _governance(plan, "text")

    def block(actions: list[Action], with_effects: bool) -> None:
        for a in _review_sorted(actions) if with_effects else _sorted(actions):
            sym = SYMBOLS[a.kind]
            out.append(style(f"  {sym} {headline(a)}", sym))
            if with_effects and a.effects:
                out.append(f"        effects: {effects_text(a, plan.target.provider)}")
            out.extend(f"        {line}" for line in details(a))
        out.append("")

    if review:
        actions = count(
            len(review), "action that takes away or changes", "actions that take away or change"
        )
        out += [f"Needs review: {actions} access.", ""]
        block(review, with_effects=True)
    if other:
        out += ["scimctl will perform these other actions:" if review else
                "scimctl will perform these actions:", ""]  # fmt: skip
        block(other, with_effects=False)
    if plan.left_alone:
        out += ["Left alone (attribute ownership):", ""]
        out += [f"  = {line}" for line in left_alone_lines(plan)] + [""]
    if plan.not_supported:
        out += ["Not supported by this service (not proposed):", ""]
        out += [f"  = {line}" for line in not_supported_lines(plan)] + [""]
    out.extend(summary_lines(plan))
    return "\n".join(out) + "\n"


def left_alone_lines(plan: Plan) -> list[str]:
    """What ownership kept, one line per user and attribute, so a reviewer sees why
    nothing happened to it."""
    out = []
    for k in plan.left_alone:
        who = f"user {esc(k.key)} ({esc(k.userName) if k.userName else '-'})"
        why = (
            "not granted by scimctl, kept"
            if k.ownership == "additive"
            else "set on create only, not changed"
        )
        shown = grant_names(k.values) if k.attribute == "grants" else k.values
        out.append(f"{who}: {k.attribute} ({k.ownership}): {why}: {value(shown)}")
    return out


def not_supported_lines(plan: Plan) -> list[str]:
    """One line per attribute the target does not store, however many users it
    concerns: the reviewer learns it once instead of reading the same update forever."""
    out = []
    for n in plan.not_supported:
        if n.source == "manifest":
            why = "target.unsupported in the manifest: never sent, never compared"
        else:
            users = count(n.users, "user")
            why = (
                f"not supported by this service: a value sent for {users} (e.g. "
                f"{esc(n.example or '-')}) was not stored, so it is not sent again until "
                "the manifest changes it; declare it in target.unsupported to stop sending it"
            )
        out.append(f"{esc(n.attribute)}: {why}")
    return out


def _governance(plan: Plan, fmt: str) -> list[str]:
    """policy.rules' verdict (scimctl.governance.render), shown before any action."""
    from scimctl.governance import render as rules

    return (rules.text_lines if fmt == "text" else rules.markdown_lines)(plan.governance)


def partial_warning(plan: Plan) -> str:
    """Terraform's -target warning: what is left out is neither shown nor applied."""
    return (
        f"Warning: this plan is partial (targets: {esc(', '.join(plan.targets))}). Other "
        "changes the manifest needs are not shown and will not be applied; run plan "
        "without --target to see them all."
    )


def render_json(plan: Plan) -> str:
    return plan.to_json()


def md(text: str) -> str:
    """Already esc()-aped text, escaped for a markdown table cell: no markup, no raw
    HTML, no ``|`` that would end the cell (esc() already took the newlines)."""
    for ch, rep in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(ch, rep)
    for ch in "\\`*_[]|~":
        text = text.replace(ch, "\\" + ch)
    return text


def _md_row(
    a: Action, members_shown: int | None, with_details: bool = True, provider: str = "genesys"
) -> str:
    cells = [SYMBOLS[a.kind].replace("<", "&lt;"), md(headline(a))]
    if a.needs_review:
        cells.append(md(effects_text(a, provider)))
    if with_details:
        cells.append("<br>".join(md(d) for d in details(a, members_shown)))
    return "| " + " | ".join(cells) + " |"


def render_markdown(plan: Plan, color: bool = False, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """A pull-request comment: summary and "Needs review" first and whole; low-risk
    actions fill the rest of ``limit``, and the comment names what it left out."""
    del color
    s = plan.summary
    head = [f"### scimctl plan for {md(esc(plan.workspace))}", ""]
    head += [f"> [!WARNING]\n> {md(esc(w))}\n" for w in plan.warnings]
    if plan.partial:
        head += [f"> **{md(partial_warning(plan))}**", ""]
    head += [f"**{md(line)}**  " for line in summary_lines(plan)]
    head[-1] = head[-1].rstrip()
    head += [
        "",
        f"Managed users: {s.managed_users} · state serial {plan.state.serial} · "
        f"manifest `{plan.manifest_digest[:19]}`"
        + (f" · redacted: {', '.join(plan.review.redact)}" if plan.review.redacted else ""),
        "",
    ]
    head += _governance(plan, "markdown")
    review, other = _split(plan)
    review = _review_sorted(review)
    footer_room = 1_000
    room = limit - footer_room - _size(head)
    review_part: list[str] = []
    if review:
        title = f"#### Needs review ({len(review)})"
        table = ["| | Action | Effects | Changes |", "| --- | --- | --- | --- |"]
        review_part = [
            title,
            "",
            *table,
            *(_md_row(a, None, provider=plan.target.provider) for a in review),
            "",
        ]
        if _size(review_part) > room:  # whole but shorter: headlines and effects only
            table = ["| | Action | Effects |", "| --- | --- | --- |"]
            review_part = [
                title,
                "",
                *table,
                *(_md_row(a, None, False, plan.target.provider) for a in review),
            ]
            review_part += ["", "_Changes are not shown here to keep every action listed._", ""]
        if _size(review_part) > room:  # listing part of them would mislead: list none
            review_part = [
                title,
                "",
                f"**{count(len(review), 'action needs', 'actions need')} review: too many to list "
                "within the "
                f"{limit:,}-character comment limit. Review them all with "
                "`scimctl show plan.json` on the saved plan file before approving.**",
                "",
            ]
    room -= _size(review_part)
    left_part = _left_alone_md(plan) + _not_supported_md(plan)
    room -= _size(left_part)
    kept, sections = _fit_other(other, room)
    body: list[str] = []
    if other:
        body += [f"#### Other actions ({len(other)})", ""]
    for kind in KIND_ORDER:
        rows = sections.get(kind)
        if rows:
            total = sum(1 for a in other if a.kind == kind)
            body += _section(kind, total, rows)
    out = head + review_part + body + left_part
    left_out = [
        f"{total - kept.get(kind, 0)} of {total} `{kind}`"
        for kind in KIND_ORDER
        if (total := sum(1 for a in other if a.kind == kind)) > kept.get(kind, 0)
    ]
    if left_out:
        out.append(
            f"_Left out to stay under the {limit:,}-character comment "
            f"limit: {', '.join(left_out)} (low-risk actions only; nothing that needs review "
            "is left out). Run `scimctl show plan.json` on the saved plan file to see every "
            "action._"
        )
    text = "\n".join(out) + "\n"
    if len(text) > limit:  # pragma: no cover - footer_room covers the footer
        raise AssertionError(f"markdown plan is {len(text)} characters, over {limit}")
    return text


LEFT_ALONE_SHOWN = 20  # lines in a comment; `scimctl show` lists them all


def _left_alone_md(plan: Plan) -> list[str]:
    if not plan.left_alone:
        return []
    lines = left_alone_lines(plan)
    shown = [f"- {md(line[:300] + ('…' if len(line) > 300 else ''))}" for line in lines]
    if len(shown) > LEFT_ALONE_SHOWN:
        more = len(shown) - LEFT_ALONE_SHOWN
        shown = [*shown[:LEFT_ALONE_SHOWN], f"- … and {more} more (`scimctl show plan.json`)"]
    return [f"#### Left alone by attribute ownership ({len(lines)})", "", *shown, ""]


def _not_supported_md(plan: Plan) -> list[str]:
    lines = not_supported_lines(plan)  # one per attribute: a handful at most
    if not lines:
        return []
    head = f"#### Not supported by this service ({len(lines)})"
    return [head, "", *(f"- {md(line)}" for line in lines), ""]


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _section(kind: str, total: int, rows: list[str]) -> list[str]:
    shown = f"{total}" if len(rows) == total else f"{len(rows)} of {total} shown"
    return [
        f"<details><summary>{kind} ({shown})</summary>",
        "",
        "| | Action | Changes |",
        "| --- | --- | --- |",
        *rows,
        "",
        "</details>",
        "",
    ]


def _fit_other(other: list[Action], room: int) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Keep low-risk rows kind by kind in KEEP_ORDER while they fit; creates and
    additions go first when something must."""
    kept: dict[str, int] = {}
    sections: dict[str, list[str]] = {}
    room -= _size([f"#### Other actions ({len(other)})", ""])
    for kind in KEEP_ORDER:
        actions = _sorted(a for a in other if a.kind == kind)
        if not actions:
            continue
        overhead = _size(_section(kind, len(actions), [])) + 20
        if overhead > room:
            continue
        rows: list[str] = []
        used = overhead
        for a in actions:
            row = _md_row(a, MEMBERS_SHOWN)
            if used + len(row) + 1 > room:
                break
            rows.append(row)
            used += len(row) + 1
        if rows:
            kept[kind] = len(rows)
            sections[kind] = rows
            room -= used
    return kept, sections


RENDERERS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": lambda plan, color=False: render_json(plan),
}


def render(plan: Plan, fmt: str, *, redact: bool = False, color: bool = False) -> str:
    """What ``plan`` and ``show`` print: one function, so they cannot disagree."""
    shown = redact_plan(plan) if redact and not plan.review.redacted else plan
    return RENDERERS[fmt](shown, color=color)
