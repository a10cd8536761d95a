"""Reading one or more manifest files into a validated :class:`Desired` state.

Every problem in every file is collected before anything is reported: schema and
type errors with their line, CSV rows with their row number, and the checks
across records (duplicates, unknown groups, hierarchy) with the line of the record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scimctl.errors import InputError, Problem, error_message, field_path
from scimctl.manifest import yamlsrc
from scimctl.manifest.checks import check_records, genesys_phone_slots
from scimctl.manifest.governance import build_governance
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
from scimctl.model import Desired, GroupSpec, Location, Policy, TargetLimits, UserSpec
from scimctl.model.grants import RoleScope
from scimctl.model.ownership import Ownership
from scimctl.text import mask_url

SINGLE_SECTIONS = ("target", "defaults", "policy", "hris", "review")
MAX_MANIFEST_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    files: tuple[str, ...]
    target: TargetModel
    desired: Desired
    hris: HrisModel | None
    digest: str
    review: ReviewModel = field(default_factory=ReviewModel)


def load_manifest(
    paths: list[str | Path] | str | Path, *, as_of: dt.date | None = None
) -> Manifest:
    """Load, validate and resolve manifests; raise :class:`InputError` with all problems.

    ``as_of`` is the day the desired state is for (default: today, UTC): a user whose
    ``provision_from`` is later is validated but not desired yet.
    """
    with _gc_paused():
        return _load_manifest(paths, as_of)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold Python's cycle collector while a manifest is read.

    A big manifest allocates a million objects that all stay alive (nodes, dicts,
    models), and each of the collector's full passes walks all of them: for a
    20,000-user manifest that was 60% of the load time, with nothing to free. Reading
    creates next to no cyclic garbage, and reference counting frees the rest as usual.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _load_manifest(paths: list[str | Path] | str | Path, as_of: dt.date | None) -> Manifest:
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    if isinstance(paths, str | Path):
        paths = [paths]
    problems: list[Problem] = []
    sections: dict[str, tuple[Any, str]] = {}
    users: list[tuple[UserModel, Location]] = []
    groups: list[tuple[GroupModel, Location]] = []
    exclude: list[tuple[str, str]] = []  # (externalId or userName, where)
    for path in map(Path, paths):
        try:
            _load_file(path, problems, sections, users, groups, exclude)
        except Exception as exc:  # a bug in scimctl, reported with its file, not a traceback
            problems.append(
                Problem(
                    _shown(path),
                    "",
                    f"internal error while reading this file ({exc.__class__.__name__}: "
                    f"{str(exc)[:200]}); please report it",
                )
            )
    target = sections.get("target", (TargetModel(), ""))[0]
    defaults = sections.get("defaults", (DefaultsModel(), ""))[0]
    policy_model = sections.get("policy", (PolicyModel(), ""))[0]
    hris = sections.get("hris", (None, ""))[0]
    if "target" not in sections:
        # An unreadable file may have set it; an invalid target was reported where it is.
        if not any(p.field == "" or p.field.split(".")[0] == "target" for p in problems):
            problems.append(Problem(str(paths[0]), "target", "no file sets the target"))
    elif target.provider == "scim" and not target.base_url:
        problems.append(Problem(sections["target"][1], "target", "provider scim needs base_url"))
    elif target.provider != "scim" and not (target.api_url or target.region):
        where = sections["target"][1]
        problems.append(Problem(where, "target", "needs region or api_url"))
    policy = Policy(
        max_group_depth=policy_model.max_group_depth,
        deny_permissions=tuple(policy_model.deny_permissions),
        deprovision=policy_model.deprovision,
        max_deprovision=policy_model.max_deprovision,
        password=policy_model.password,
        default_role=policy_model.default_role or None,
        # Plans show the URL; any credential in it stays in the manifest.
        hris_webhook=mask_url(hris.webhook_url) if hris else None,
    )
    rule_lines, exception_lines = sections.get("policy.lines", (([], []), ""))[0]
    governance = build_governance(policy_model, rule_lines, exception_lines, as_of, problems)
    if policy.password == "generate" and hris is None:
        where = sections["policy"][1]
        problems.append(
            Problem(where, "policy.password", "generate needs hris.webhook_url to hand it over")
        )
    if target.provider == "genesys":
        problems += [
            Problem(
                str(loc),
                "groups.create",
                f"group {g.name!r}: Genesys Cloud cannot create groups through SCIM "
                "(POST /groups was removed in 2021); create it in Genesys Cloud and "
                "remove create: true",
            )
            for g, loc in groups
            if getattr(g, "create", False) is True  # invalid records are stand-ins
        ]
        problems += genesys_phone_slots(users)
    current = [(u, loc) for u, loc in users if _started(u, as_of)]
    _managers_by_key(users)
    problems.extend(check_records(users, groups, policy, current={id(u) for u, _ in current}))
    names = {e.lower(): w for e, w in exclude}
    keys = dict(exclude)
    for u, loc in users:
        name = getattr(u, "userName", None)  # invalid records are stand-ins
        hit = (names.get(name.lower()) if isinstance(name, str) else None) or keys.get(
            getattr(u, "externalId", None) or ""
        )
        if hit:
            problems.append(
                Problem(str(loc), "exclude", f"{u.externalId} is both desired and excluded ({hit})")
            )
    if problems:
        raise InputError(problems)
    desired = Desired(
        users={u.externalId: _user_spec(u, loc, defaults) for u, loc in current},
        groups={
            g.name: GroupSpec(g.name, g.parent, g.authoritative, loc, create=g.create)
            for g, loc in groups
        },
        policy=policy,
        exclude=frozenset(e for e, _ in exclude),
        governance=governance,
        ownership=_ownership(policy_model, current),
        limits=TargetLimits(
            unsupported=frozenset(target.unsupported or ()),
            lookup=target.lookup or "externalId",
            where=sections.get("target", (None, ""))[1],
        ),
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
    text = _read_manifest(path, problems)
    if text is None:
        return
    try:
        data, issues = yamlsrc.load_checked(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is None:
            problems.append(Problem(str(path), "", f"not valid YAML: {exc.problem or exc}"))
        else:
            problems.append(
                Problem(
                    f"{path}:{mark.line + 1}",
                    "",
                    f"not valid YAML at column {mark.column + 1}: {exc.problem or exc}",
                )
            )
        return
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        problems.append(
            Problem(
                f"{path}:{line}",
                "",
                f"not valid YAML at column {column}: character {_char(exc.character)} "
                "is not allowed",
            )
        )
        return
    except yaml.YAMLError as exc:
        problems.append(Problem(str(path), "", f"not valid YAML: {exc}"))
        return
    except RecursionError:
        problems.append(Problem(str(path), "", "not valid YAML: nested too deeply"))
        return
    for issue in issues:
        problems.append(Problem(f"{path}:{issue.line}", "", issue.message))
    if not isinstance(data, dict):
        problems.append(Problem(f"{path}:1", "", "a manifest must be a YAML mapping"))
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
        if name == "policy" and value is not None:
            lines = tuple(
                [where(("policy", part, i)) for i in range(len(getattr(value, part)))]
                for part in ("rules", "exceptions")
            )
            sections["policy.lines"] = (lines, "")
    records: tuple[tuple[str, type[Any], list[Any]], ...] = (
        ("users", UserModel, users),
        ("groups", GroupModel, groups),
    )
    for key, record, out in records:
        items = data.get(key) or []
        if not isinstance(items, list):
            problems.append(Problem(where((key,)), key, "must be a list"))
            continue
        for i, item in enumerate(items):
            value = validate(record, item, (key, i))
            if value is not None:
                at = yamlsrc.line_of(data, (key, i))
                out.append((value, Location(str(path), line=at)))
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


def _char(c: object) -> str:
    code = ord(c) if isinstance(c, str) and len(c) == 1 else c
    return f"U+{code:04X}" if isinstance(code, int) else repr(c)


def _shown(path: Path) -> str:
    return str(path).replace("\0", "\\0")


def _read_manifest(path: Path, problems: list[Problem]) -> str | None:
    """A manifest's text, or None with a located problem; never reads a special file."""
    if "\0" in str(path):
        problems.append(Problem(_shown(path), "", "the path contains a NUL byte"))
        return None
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            problems.append(Problem(str(path), "", "not a regular file; refusing to read it"))
            return None
        if info.st_size > MAX_MANIFEST_BYTES:
            problems.append(
                Problem(
                    str(path), "", f"{info.st_size:,} bytes; the limit is {MAX_MANIFEST_BYTES:,}"
                )
            )
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        problems.append(Problem(str(path), "", f"cannot read: {exc.strerror or exc}"))
        return None
    except ValueError as exc:  # e.g. a path the OS cannot represent
        problems.append(Problem(_shown(path), "", f"cannot read: {exc}"))
        return None
    if len(data) > MAX_MANIFEST_BYTES:
        problems.append(Problem(str(path), "", f"larger than {MAX_MANIFEST_BYTES:,} bytes"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(
            Problem(
                f"{path}:{line}",
                "",
                f"not UTF-8: byte offset {exc.start} is {data[exc.start : exc.start + 1]!r}; "
                "save the manifest as UTF-8",
            )
        )
        return None


def _user_spec(user: UserModel, loc: Location, defaults: DefaultsModel) -> UserSpec:
    """The canonical attributes of one desired user.

    Leaver semantics: a person marked inactive keeps an account but no managed group
    memberships, exactly as if they had been removed from the feed under
    ``policy.deprovision: deactivate``; the two paths end in the same directory.
    """
    active = _first(user.active, defaults.active, True)
    attrs: dict[str, Any] = {
        "userName": user.userName,
        "displayName": user.displayName,
        "active": active,
    }
    for name in ("title", "department", "division"):
        value = _first(getattr(user, name), getattr(defaults, name))
        if value is not None:
            attrs[name] = value
    for name in ("employeeNumber", "workEmail", "dateHire", "manager"):
        if getattr(user, name) is not None:
            attrs[name] = getattr(user, name)
    if user.phoneNumbers is not None:
        attrs["phoneNumbers"] = sorted([p.type, p.value] for p in user.phoneNumbers)
    for name in ("routingSkills", "routingLanguages"):
        items = getattr(user, name)
        if items is not None:
            attrs[name] = sorted([p.name, float(p.proficiency)] for p in items)
    roles = _first(user.roles, defaults.roles)
    scopes: tuple[RoleScope, ...] = ()
    if roles is not None:
        attrs["roles"] = sorted({r for r in roles if isinstance(r, str)})
        scopes = tuple(sorted((r for r in roles if isinstance(r, RoleScope)), key=lambda r: r.role))
    groups = tuple(dict.fromkeys(user.groups)) if active else ()
    previous = tuple(k for k in dict.fromkeys(user.previousExternalIds) if k != user.externalId)
    return UserSpec(user.externalId, attrs, groups, loc, previous_keys=previous, scopes=scopes)


def _managers_by_key(users: list[tuple[UserModel, Location]]) -> None:
    """A manager given as the userName of a manifest user means that user's key.

    Any other email stays a (lower-cased) live userName, which the plan resolves.
    """
    key_of: dict[str, str] = {}
    for u, _ in users:
        if isinstance(getattr(u, "userName", None), str) and isinstance(u.externalId, str):
            key_of.setdefault(u.userName.lower(), u.externalId)
    for u, _ in users:
        manager = getattr(u, "manager", None)
        if isinstance(manager, str) and "@" in manager:
            u.manager = key_of.get(manager.lower(), manager.lower())


def _started(user: UserModel, as_of: dt.date) -> bool:
    start = getattr(user, "provision_from", None)
    return start is None or dt.date.fromisoformat(start) <= as_of


def _ownership(policy: PolicyModel, users: list[tuple[UserModel, Location]]) -> Ownership | None:
    """policy.ownership and each user's own; None when the manifest sets neither."""
    overrides = {u.externalId: dict(u.ownership) for u, _ in users if u.ownership}
    if not policy.ownership and not overrides:
        return None
    return Ownership(dict(policy.ownership), overrides)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _not_meant(target: TargetModel) -> set[str]:
    """Target fields outside the digest: how fast to go is not what the manifest means
    (a plan stays valid across it), and limits only when declared, so digests of
    manifests without them do not move."""
    out = {"tokens", "max_rate", "clients"}
    if not target.unsupported:
        out.add("unsupported")
    if target.lookup in (None, "externalId"):
        out.add("lookup")
    return out


def digest(desired: Desired, target: TargetModel) -> str:
    """A digest of what the manifest means, not how it is formatted."""
    doc: dict[str, Any] = {
        "target": target.model_dump(exclude=_not_meant(target)),
        "users": {
            k: {"attrs": u.attrs, "groups": u.groups, "previous": u.previous_keys}
            for k, u in desired.users.items()
        },
        # create only when set, so digests of manifests without it do not move
        "groups": {
            k: [g.parent, g.authoritative, *(["create"] if g.create else [])]
            for k, g in desired.groups.items()
        },
        "policy": asdict(desired.policy),
    }
    scopes = {
        k: [[s.role, *s.divisions] for s in u.scopes] for k, u in desired.users.items() if u.scopes
    }
    if scopes:  # only then, so digests of manifests without them do not move
        doc["scopes"] = scopes
    if desired.exclude:  # only then, so digests of manifests without it do not move
        doc["exclude"] = sorted(desired.exclude)
    if desired.ownership is not None:  # likewise
        doc["ownership"] = desired.ownership.digest_doc()
    if desired.governance is not None:  # likewise: rules and exceptions, never the day
        doc["governance"] = desired.governance.doc()
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=list)
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
