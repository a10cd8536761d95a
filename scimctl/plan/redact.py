"""Masking personal contact data in a plan while keeping it reviewable.

A reviewer judging a move needs title, department, division, roles and groups; they
do not need a phone number. So redaction masks only the fields the manifest's
``review: {redact: [...]}`` lists (contact data by default) and keeps every key,
id, version and effect, so a redacted plan still says exactly what will change.

A redacted plan is for reading. Its masked values must never be written to the
directory, so it is marked ``review.redacted`` and apply must recompute the plan
and compare it through the same mask (:func:`redact_plan` is deterministic and
idempotent for that reason) instead of running the file's values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scimctl.governance.report import GovernanceReport
from scimctl.model import REDACTABLE
from scimctl.plan.model import Action, Change, Effect, Plan, Review

MASK = "***"
EMAIL_FIELDS = frozenset({"userName", "workEmail"})


def mask_email(value: str) -> str:
    """Keep the domain (which organisation) and hide the person."""
    _, at, domain = value.rpartition("@")
    return f"{MASK}@{domain}" if at else MASK


def mask_value(attr: str, value: Any) -> Any:
    if value is None:
        return None  # "(unset)" stays visible: a reviewer sees a value being added
    if attr in EMAIL_FIELDS and isinstance(value, str):
        return mask_email(value)
    if attr == "phoneNumbers" and isinstance(value, list):
        return [[p[0], MASK] if isinstance(p, list | tuple) and p else MASK for p in value]
    return MASK


def redact_plan(plan: Plan, fields: Iterable[str] | None = None) -> Plan:
    """``plan`` with ``fields`` (default: the plan's own ``review.redact``) masked."""
    chosen = list(plan.review.redact if fields is None else fields)
    unknown = sorted(set(chosen) - set(REDACTABLE))
    if unknown:
        raise ValueError(f"cannot redact {', '.join(unknown)}; redactable: {', '.join(REDACTABLE)}")
    names = "userName" in chosen
    actions = [_action(a, chosen, names) for a in plan.actions]
    left_alone = [
        k.model_copy(
            update={
                "values": mask_value(k.attribute, k.values) if k.attribute in chosen else k.values,
                "userName": mask_email(k.userName) if names and k.userName else k.userName,
            }
        )
        for k in plan.left_alone
    ]
    return plan.model_copy(
        update={
            "actions": actions,
            "left_alone": left_alone,
            "review": Review(redact=chosen, redacted=True),
            # rule findings name users too
            "governance": _governance(plan.governance) if names else plan.governance,
        }
    )


def _governance(g: GovernanceReport | None) -> GovernanceReport | None:
    """Users named by userName (unmanaged accounts, exceptions written so), masked."""
    if g is None:
        return None

    def who(user: str) -> str:
        return mask_email(user) if "@" in user else user

    return g.model_copy(
        update={
            "findings": [f.model_copy(update={"user": who(f.user)}) for f in g.findings],
            "exceptions": [e.model_copy(update={"user": who(e.user)}) for e in g.exceptions],
        }
    )


def _action(a: Action, fields: list[str], names: bool) -> Action:
    # A group's displayName (a create_group) is its name, and group names are never
    # masked: the key shows it anyway.
    fields = fields if a.resource == "user" else []
    changes = {
        attr: Change(before=mask_value(attr, c.before), after=mask_value(attr, c.after))
        if attr in fields
        else c
        for attr, c in a.changes.items()
    }
    members = [
        m.model_copy(update={"userName": mask_email(m.userName)}) if names and m.userName else m
        for m in a.members
    ]
    effects = [_effect(e, names) for e in a.effects]
    return a.model_copy(
        update={
            "changes": changes,
            "members": members,
            "effects": effects,
            "userName": mask_email(a.userName) if names and a.userName else a.userName,
        }
    )


def _effect(e: Effect, names: bool) -> Effect:
    # A group removal names the member by userName when it has one.
    if names and e.kind == "group_removal" and e.subject and "@" in e.subject:
        return e.model_copy(update={"subject": mask_email(e.subject)})
    return e
