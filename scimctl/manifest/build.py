"""``scimctl import``: a readable manifest that reproduces the live directory.

Onboarding an org that already has thousands of accounts should not start with a
plan of thousands of adoptions. Import reads the directory once (the same reads as
a plan), chooses accounts by filters, writes a manifest with the common division
and roles factored into ``defaults`` and everything in a stable order, and (in the
commands layer) records the chosen accounts in state so the next plan against the
written manifest shows no changes.

Accounts the manifest could not reproduce are left out and listed with the reason:
no externalId (unless ``key_from`` names a rule), values the manifest refuses (a
userName that is not an email, a phone number that is not E.164, control
characters), a duplicate key, or a role the default policy denies. This module is
pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from scimctl import __version__
from scimctl.errors import ConfigError
from scimctl.manifest.models import PolicyModel, UserModel
from scimctl.model import LiveUser, Snapshot
from scimctl.model.grants import ALL_DIVISIONS, GrantRef
from scimctl.plan.checks import grants
from scimctl.text import count

KEY_RULES = ("userName",)
_env = SandboxedEnvironment(undefined=jinja2.ChainableUndefined, autoescape=False)

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .@_+/()'-]*(?<! )$")
_resolver = yaml.resolver.Resolver()


@dataclass(frozen=True)
class ImportOptions:
    where: str | None = None  # a jinja2 expression over the user's attributes
    has_external_id: bool = False
    user_names: tuple[str, ...] = ()
    key_from: str | None = None  # a rule for users without externalId: "userName"


@dataclass(frozen=True)
class Imported:
    key: str
    live: LiveUser
    groups: tuple[str, ...]
    scoped: frozenset[str] = frozenset()  # roles written with their divisions


@dataclass
class ImportResult:
    text: str  # the manifest
    users: list[Imported]
    groups: dict[str, str]  # declared group name -> live id
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (userName, reason)
    filtered: int = 0  # users the filters did not choose


def _where(expression: str) -> Any:
    try:
        return _env.compile_expression(expression)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"--where {expression!r}: {exc.message}") from None


def _chosen(user: LiveUser, options: ImportOptions, where: Any, names: set[str]) -> bool:
    if options.has_external_id and not user.external_id:
        return False
    if names and user.user_name.lower() not in names:
        return False
    if where is None:
        return True
    context = {**user.attrs, "externalId": user.external_id}
    try:
        return bool(where(**context))
    except Exception as exc:  # noqa: BLE001 - any template error is the operator's input
        raise ConfigError(f"--where {options.where!r}: {exc}") from None


def build_manifest(
    snapshot: Snapshot, options: ImportOptions, *, target: dict[str, str], source: str
) -> ImportResult:
    """Choose accounts and write the manifest text; see the module docstring."""
    if options.key_from is not None and options.key_from not in KEY_RULES:
        raise ConfigError(f"--key-from {options.key_from!r}: use one of {', '.join(KEY_RULES)}")
    where = _where(options.where) if options.where else None
    names = {n.lower() for n in options.user_names}
    member_of: dict[str, list[str]] = {}
    for g in snapshot.groups:
        for uid in g.members:
            member_of.setdefault(uid, []).append(g.name)
    deny = tuple(PolicyModel().deny_permissions)
    denied_roles = {
        r.name for r in snapshot.roles if any(grants(p, d) for p in r.permissions for d in deny)
    }
    result = ImportResult(text="", users=[], groups={})
    seen: set[str] = set()
    entries: list[dict[str, Any]] = []
    for live in sorted(snapshot.users, key=lambda u: (u.external_id or "", u.user_name.lower())):
        if not _chosen(live, options, where, names):
            result.filtered += 1
            continue
        key = live.external_id
        if not key:
            if options.key_from == "userName":
                key = live.user_name
            else:
                result.left_out.append((live.user_name, "no externalId (see --key-from)"))
                continue
        if key in seen:
            result.left_out.append((live.user_name, f"externalId {key!r} is not unique"))
            continue
        denied = sorted(r for r in live.attrs.get("roles") or [] if r in denied_roles)
        if denied:
            result.left_out.append(
                (live.user_name, f"holds {', '.join(denied)}, denied by the default policy")
            )
            continue
        # An inactive account's memberships stay unmanaged: a leaver loses only the
        # memberships scimctl manages, and these it never did.
        groups = tuple(sorted(member_of.get(live.id, []))) if live.active else ()
        entry = _entry(key, live, groups, snapshot.grants.get(live.id, ()))
        try:
            UserModel.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            where_ = ".".join(str(p) for p in first["loc"])
            result.left_out.append((live.user_name, f"{where_}: {first['msg']}"))
            continue
        seen.add(key)
        entries.append(entry)
        scoped = frozenset(r["name"] for r in entry["roles"] if isinstance(r, dict))
        result.users.append(Imported(key, live, groups, scoped))
    declared = sorted({g for u in result.users for g in u.groups})
    by_name = {g.name: g.id for g in snapshot.groups}
    result.groups = {name: by_name[name] for name in declared}
    defaults = _factor(entries)
    doc: dict[str, Any] = {"version": 1, "target": target}
    if defaults:
        doc["defaults"] = defaults
    doc["groups"] = [{"name": n} for n in declared]
    doc["users"] = entries
    header = [
        f"# Written by scimctl import {__version__} from {source}",
        f"# on {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}: "
        f"{count(len(entries), 'user')}, {count(len(declared), 'group')} "
        "(Genesys groups are flat; add parent: to nest).",
        "# scimctl records these accounts in its state, so a plan against this file",
        "# shows no changes until you edit it. Defaults hold the most common division",
        "# and roles; a user lists only what differs.",
    ]
    if result.left_out:
        header.append(
            f"# Left out: {count(len(result.left_out), 'account')} (listed by scimctl import)."
        )
    body = dump(doc)
    result.text = "\n".join(header) + "\n" + body
    return result


def _scalar(value: Any) -> str:
    """A YAML scalar that reads back as exactly ``value``: plain when that is safe
    (``Support``, ``jane@example.com``), else a JSON string, which YAML reads as a
    double-quoted scalar (``"1004"``, ``"yes"``, ``"a: b"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    resolved = _resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if _PLAIN.match(text) and resolved == ("tag:yaml.org,2002:str"):
        return text
    return json.dumps(text, ensure_ascii=False)


def _inline(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def dump(doc: dict[str, Any]) -> str:
    """The manifest as block YAML with short lists inline, key order kept.

    Written by hand for the manifest's fixed shape: PyYAML's representer spends
    seconds on 20,000 users. Tests read the output back with PyYAML.
    """
    out: list[str] = []

    def mapping(d: dict[str, Any], indent: str, first_prefix: str | None = None) -> None:
        for i, (k, v) in enumerate(d.items()):
            lead = first_prefix if (i == 0 and first_prefix is not None) else indent
            if isinstance(v, dict) and v and any(isinstance(x, list | dict) for x in v.values()):
                out.append(f"{lead}{k}:")
                mapping(v, indent + "  ")
            elif isinstance(v, dict) and v:
                if len(v) > 2:
                    out.append(f"{lead}{k}:")
                    mapping(v, indent + "  ")
                else:
                    out.append(f"{lead}{k}: {_inline(v)}")
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                out.append(f"{lead}{k}:")
                for item in v:
                    mapping(item, indent + "  ", first_prefix=indent + "- ")
            else:
                out.append(f"{lead}{k}: {_inline(v)}")

    mapping(doc, "")
    return "\n".join(out) + "\n"


def _entry(
    key: str, live: LiveUser, groups: tuple[str, ...], held: tuple[GrantRef, ...] = ()
) -> dict[str, Any]:
    a = live.attrs
    entry: dict[str, Any] = {
        "externalId": key,
        "userName": live.user_name,
        "displayName": a.get("displayName"),
    }
    if not live.active:
        entry["active"] = False
    for name in ("title", "department", "division", "employeeNumber"):
        if a.get(name) is not None:
            entry[name] = a[name]
    if a.get("phoneNumbers"):
        entry["phoneNumbers"] = [{"type": t, "value": v} for t, v in a["phoneNumbers"]]
    entry["roles"] = _roles(list(a.get("roles") or []), a.get("division") or "Home", held)
    if groups:
        entry["groups"] = list(groups)
    return entry


def _roles(names: list[str], division: str, held: tuple[GrantRef, ...]) -> list[Any]:
    """A role held only in the user's own division stays a name (as SCIM grants it);
    one held in other divisions is written with them, ``{name, divisions}``, so the
    plan manages exactly those grants. Without grants read, every role is a name."""
    out: list[Any] = []
    for name in names:
        divisions = sorted({g.division for g in held if g.role == name})
        if not divisions or divisions == [division]:
            out.append(name)
        elif divisions == [ALL_DIVISIONS]:
            out.append({"name": name, "divisions": ALL_DIVISIONS})
        else:
            out.append({"name": name, "divisions": divisions})
    return out


def _factor(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Move the most common roles (and a division every user has) into defaults.

    A default applies to every user that does not set the field, so a division is
    factored only when every user has one (a manifest cannot say "no division").
    """
    defaults: dict[str, Any] = {}
    if not entries:
        return defaults
    divisions = Counter(e.get("division") for e in entries)
    top_division, _ = divisions.most_common(1)[0]
    if top_division is not None and None not in divisions:
        defaults["division"] = top_division
        for e in entries:
            if e.get("division") == top_division:
                del e["division"]
    role_sets = Counter(json.dumps(e["roles"], sort_keys=True) for e in entries)
    top_roles, _ = role_sets.most_common(1)[0]
    defaults["roles"] = next(
        list(e["roles"]) for e in entries if json.dumps(e["roles"], sort_keys=True) == top_roles
    )
    for e in entries:
        if json.dumps(e["roles"], sort_keys=True) == top_roles:
            del e["roles"]
    # Keep the key order readable: groups last.
    for e in entries:
        if "groups" in e:
            e["groups"] = e.pop("groups")
    return defaults
