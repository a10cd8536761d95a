"""Reading one or more manifest files into a validated :class:`Desired` state.

Every problem in every file is collected before anything is reported: schema and
type errors with their line, CSV rows with their row number, and the checks
across records (duplicates, unknown groups, hierarchy) with the line of the record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scimctl.manifest import yamlsrc
from scimctl.manifest.checks import check_records
from scimctl.manifest.models import (
    DefaultsModel,
    GroupModel,
    HrisModel,
    ManifestModel,
    PolicyModel,
    ReviewModel,
    SourceModel,
    TargetModel,
    UserModel,
)
from scimctl.manifest.sources import read_source
from scimctl.model import Desired, GroupSpec, Location, Policy, UserSpec
from scimctl.problems import InputError, Problem, error_message, field_path

SINGLE_SECTIONS = ("target", "defaults", "policy", "hris", "review")


@dataclass(frozen=True)
class Manifest:
    files: tuple[str, ...]
    target: TargetModel
    desired: Desired
    hris: HrisModel | None
    digest: str
    review: ReviewModel = field(default_factory=ReviewModel)


def load_manifest(paths: list[str | Path] | str | Path) -> Manifest:
    """Load, validate and resolve manifests; raise :class:`InputError` with all problems."""
    if isinstance(paths, str | Path):
        paths = [paths]
    problems: list[Problem] = []
    sections: dict[str, tuple[Any, str]] = {}
    users: list[tuple[UserModel, Location]] = []
    groups: list[tuple[GroupModel, Location]] = []
    exclude: list[tuple[str, str]] = []  # (externalId or userName, where)
    for path in map(Path, paths):
        _load_file(path, problems, sections, users, groups, exclude)
    target = sections.get("target", (TargetModel(), ""))[0]
    defaults = sections.get("defaults", (DefaultsModel(), ""))[0]
    policy_model = sections.get("policy", (PolicyModel(), ""))[0]
    hris = sections.get("hris", (None, ""))[0]
    if "target" not in sections:
        if not any(p.field == "" for p in problems):  # an unreadable file may have set it
            problems.append(Problem(str(paths[0]), "target", "no file sets the target"))
    elif not (target.api_url or target.region):
        where = sections["target"][1]
        problems.append(Problem(where, "target", "needs region or api_url"))
    policy = Policy(
        max_group_depth=policy_model.max_group_depth,
        deny_permissions=tuple(policy_model.deny_permissions),
        deprovision=policy_model.deprovision,
        max_deprovision=policy_model.max_deprovision,
        password=policy_model.password,
        hris_webhook=hris.webhook_url if hris else None,
    )
    if policy.password == "generate" and hris is None:
        where = sections["policy"][1]
        problems.append(
            Problem(where, "policy.password", "generate needs hris.webhook_url to hand it over")
        )
    problems.extend(check_records(users, groups, policy))
    names = {e.lower(): w for e, w in exclude}
    for u, loc in users:
        hit = names.get(u.userName.lower()) or dict(exclude).get(u.externalId)
        if hit:
            problems.append(
                Problem(str(loc), "exclude", f"{u.externalId} is both desired and excluded ({hit})")
            )
    if problems:
        raise InputError(problems)
    desired = Desired(
        users={u.externalId: _user_spec(u, loc, defaults) for u, loc in users},
        groups={g.name: GroupSpec(g.name, g.parent, g.authoritative, loc) for g, loc in groups},
        policy=policy,
        exclude=frozenset(e for e, _ in exclude),
    )
    return Manifest(
        files=tuple(str(p) for p in paths),
        target=target,
        desired=desired,
        hris=hris,
        digest=digest(desired, target),
        review=sections.get("review", (ReviewModel(), ""))[0],
    )


def _load_file(
    path: Path,
    problems: list[Problem],
    sections: dict[str, tuple[Any, str]],
    users: list[tuple[UserModel, Location]],
    groups: list[tuple[GroupModel, Location]],
    exclude: list[tuple[str, str]],
) -> None:
    try:
        data = yamlsrc.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(Problem(str(path), "", f"cannot read: {exc.strerror}"))
        return
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problems.append(Problem(where, "", f"not valid YAML: {getattr(exc, 'problem', exc)}"))
        return
    if not isinstance(data, dict):
        problems.append(Problem(str(path), "", "a manifest must be a YAML mapping"))
        return

    def where(loc: tuple[Any, ...]) -> str:
        line = yamlsrc.line_of(data, loc)
        return f"{path}:{line}" if line else str(path)

    def validate(model: type[BaseModel], value: Any, loc: tuple[Any, ...]) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            for e in exc.errors():
                full = (*loc, *e["loc"])
                problems.append(Problem(where(full), field_path(full), error_message(e)))
            return None

    lists = ("users", "groups", "sources")
    top = {k: v for k, v in data.items() if k not in (*lists, *SINGLE_SECTIONS)}
    top_model = validate(ManifestModel, top, ())
    if top_model is not None:
        exclude.extend((e, where(("exclude", i))) for i, e in enumerate(top_model.exclude))
    for name, model in (
        ("target", TargetModel),
        ("defaults", DefaultsModel),
        ("policy", PolicyModel),
        ("hris", HrisModel),
        ("review", ReviewModel),
    ):
        if name not in data:
            continue
        if name in sections:
            problems.append(
                Problem(where((name,)), name, f"already set in {sections[name][1]}; set it once")
            )
            continue
        value = validate(model, data[name], (name,))
        if value is not None:
            sections[name] = (value, where((name,)))
    for key, model, out in (("users", UserModel, users), ("groups", GroupModel, groups)):
        items = data.get(key) or []
        if not isinstance(items, list):
            problems.append(Problem(where((key,)), key, "must be a list"))
            continue
        for i, item in enumerate(items):
            value = validate(model, item, (key, i))
            if value is not None:
                line = yamlsrc.line_of(data, (key, i))
                out.append((value, Location(str(path), line=line)))
    sources = data.get("sources") or []
    if not isinstance(sources, list):
        problems.append(Problem(where(("sources",)), "sources", "must be a list"))
        return
    for i, raw in enumerate(sources):
        source = validate(SourceModel, raw, ("sources", i))
        if source is None:
            continue
        found, source_problems = read_source(source, path.parent, where(("sources", i)))
        users.extend(found)
        problems.extend(source_problems)


def _user_spec(user: UserModel, loc: Location, defaults: DefaultsModel) -> UserSpec:
    attrs: dict[str, Any] = {
        "userName": user.userName,
        "displayName": user.displayName,
        "active": _first(user.active, defaults.active, True),
    }
    for name in ("title", "department", "division"):
        value = _first(getattr(user, name), getattr(defaults, name))
        if value is not None:
            attrs[name] = value
    if user.employeeNumber is not None:
        attrs["employeeNumber"] = user.employeeNumber
    if user.phoneNumbers is not None:
        attrs["phoneNumbers"] = sorted([p.type, p.value] for p in user.phoneNumbers)
    roles = _first(user.roles, defaults.roles)
    if roles is not None:
        attrs["roles"] = sorted(set(roles))
    return UserSpec(user.externalId, attrs, tuple(dict.fromkeys(user.groups)), loc)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def digest(desired: Desired, target: TargetModel) -> str:
    """A digest of what the manifest means, not how it is formatted."""
    doc = {
        "target": target.model_dump(),
        "users": {k: {"attrs": u.attrs, "groups": u.groups} for k, u in desired.users.items()},
        "groups": {k: [g.parent, g.authoritative] for k, g in desired.groups.items()},
        "policy": asdict(desired.policy),
    }
    if desired.exclude:  # only then, so digests of manifests without it do not move
        doc["exclude"] = sorted(desired.exclude)
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=list)
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
