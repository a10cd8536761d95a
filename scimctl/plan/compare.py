"""Is the saved plan exactly what would run now? The difference, named field by field.

apply recomputes the plan from the manifest, the live directory and the state and
runs the saved one only when this finds nothing. Actions are compared as whole
documents (``model_dump``), so a field added to :class:`Action` later is compared
without anyone remembering to; action order does not matter. Besides the actions,
everything apply acts on is compared: the target (where credentials are sent), the
policy (passwords, webhooks), the memberships recorded in state, the state the plan
was computed against and the manifest it came from. Summaries, warnings and the
scimctl version describe the plan and are not compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from scimctl.plan.model import Plan

# Top-level fields that decide what apply does (the target is where credentials go,
# the policy says whether passwords and webhooks are used).
COMPARED = ("workspace", "target", "manifest_digest", "state", "policy", "memberships")


@dataclass(frozen=True)
class Difference:
    """One way the saved plan differs from the plan computed now."""

    what: Literal["only_in_plan", "only_now", "changed", "duplicate", "plan"]
    subject: str  # an action id, or a top-level field
    fields: tuple[str, ...] = ()
    detail: str = ""

    def __str__(self) -> str:
        if self.what == "only_in_plan":
            return f"- {self.subject}: in the plan file, but would not run now"
        if self.what == "only_now":
            return f"+ {self.subject}: would run now, but is not in the plan file"
        if self.what == "duplicate":
            return f"! {self.subject}: appears more than once in the plan file"
        if self.what == "plan":
            return f"~ {self.subject}: {self.detail}"
        return f"~ {self.subject}: differs in {', '.join(self.fields)}" + (
            f" ({self.detail})" if self.detail else ""
        )


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def changed_fields(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ; lists are compared whole."""
    if isinstance(saved, dict) and isinstance(now, dict):
        out: list[str] = []
        for key in sorted(set(saved) | set(now), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved or key not in now:
                out.append(path)
            else:
                out += changed_fields(saved[key], now[key], path)
        return out
    return [] if saved == now else [prefix or "(value)"]


def _lookup(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _detail(saved: Any, now: Any, fields: list[str], limit: int = 3) -> str:
    shown = [
        f"{f}: plan {_short(_lookup(saved, f))}, now {_short(_lookup(now, f))}"
        for f in fields[:limit]
    ]
    more = f"; and {len(fields) - limit} more" if len(fields) > limit else ""
    return "; ".join(shown) + more


def compare_documents(saved: dict[str, Any], now: dict[str, Any]) -> list[Difference]:
    """Compare two plan documents (``model_dump(mode="json")`` of each)."""
    out: list[Difference] = []
    for name in COMPARED:
        a, b = saved.get(name), now.get(name)
        if a == b:
            continue
        if name == "manifest_digest":
            detail = f"the manifest changed since the plan was made (plan {a}, now {b})"
        elif name == "state" and isinstance(a, dict) and isinstance(b, dict):
            detail = (
                f"the plan was made against state {a.get('lineage') or '(new)'} serial "
                f"{a.get('serial')}, but the state is now {b.get('lineage') or '(new)'} "
                f"serial {b.get('serial')}"
            )
        elif isinstance(a, dict) and isinstance(b, dict):
            detail = _detail(a, b, changed_fields(a, b))
        else:
            detail = f"plan {_short(a)}, now {_short(b)}"
        out.append(Difference("plan", name, detail=detail))

    saved_by_id: dict[str, dict[str, Any]] = {}
    for doc in saved.get("actions") or []:
        ident = str(doc.get("id"))
        if ident in saved_by_id:
            out.append(Difference("duplicate", ident))
        saved_by_id[ident] = doc
    now_by_id = {str(doc.get("id")): doc for doc in now.get("actions") or []}
    for ident in sorted(set(saved_by_id) | set(now_by_id)):
        a, b = saved_by_id.get(ident), now_by_id.get(ident)
        if b is None:
            out.append(Difference("only_in_plan", _describe(ident, a)))
        elif a is None:
            out.append(Difference("only_now", _describe(ident, b)))
        elif a != b:
            fields = changed_fields(a, b)
            out.append(Difference("changed", ident, tuple(fields), _detail(a, b, fields)))
    return out


def _describe(ident: str, doc: dict[str, Any] | None) -> str:
    """An action's id, plus the account it targets when the id alone does not say."""
    live_id = (doc or {}).get("live_id")
    return f"{ident} (live id {live_id})" if live_id else ident


def compare_plans(saved: Plan, now: Plan) -> list[Difference]:
    """Every difference between a reviewed plan and the plan computed now; [] if none."""
    return compare_documents(saved.model_dump(mode="json"), now.model_dump(mode="json"))
