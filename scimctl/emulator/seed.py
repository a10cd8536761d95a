"""Seed files: the roles, groups and users an emulated org starts with.

A seed is YAML or JSON::

    roles:  [{name: Agent, permissions: ["routing:agent:*"]}]
    groups: [{name: Support}]
    skills: [Billing, Escalations]          # routing skills (Platform API)
    languages: [English, Spanish]
    divisions: [Sales, {name: Finance, writable: false}]   # Home always exists
    users:  [{userName: a@example.com, displayName: A, externalId: "1",
              active: true, roles: [Agent], groups: [Support], department: Ops}]

Users take SCIM core attributes as they are; ``department``, ``division``,
``employeeNumber`` go to the enterprise extension, ``roles`` and ``groups`` are names.
A division with ``writable: false`` is one the emulated OAuth client holds no grant
in: it is listed, but users cannot be written into or out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scimctl.emulator.directory import Directory, ScimError
from scimctl.errors import SeedError
from scimctl.scim.schema import ENTERPRISE_USER

ENTERPRISE_KEYS = ("department", "division", "employeeNumber", "dateHire")


def load_seed(path: str | Path, directory: Directory) -> Directory:
    """Fill ``directory`` from a seed file; errors name the file and the entry."""
    path = Path(path)
    try:
        # libyaml's loader when present: a 20,000-user seed takes seconds, not minutes.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(), Loader=loader) or {}  # noqa: S506 - a safe loader
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: cannot read seed: {exc}") from exc
    apply_seed(data, directory, source=str(path))
    return directory


def apply_seed(data: dict[str, Any], directory: Directory, source: str = "seed") -> Directory:
    read_only = []
    for i, division in enumerate(data.get("divisions") or []):
        if isinstance(division, str):
            division = {"name": division}
        if not isinstance(division, dict) or not isinstance(division.get("name"), str):
            raise SeedError(f"{source}: divisions[{i}] needs a name")
        writable = division.get("writable", True)
        if not isinstance(writable, bool):
            raise SeedError(f"{source}: divisions[{i}].writable must be true or false")
        # Seeded users may live in a division the client cannot write: grant it until
        # the users are in, then take the grant away.
        directory.divisions.add(division["name"], True, division.get("description", ""))
        if not writable:
            read_only.append(directory.divisions.by_name[division["name"]])
    for i, role in enumerate(data.get("roles") or []):
        if not isinstance(role, dict) or "name" not in role:
            raise SeedError(f"{source}: roles[{i}] needs a name")
        directory.add_role(role["name"], role.get("permissions") or [], role.get("description", ""))
    for key in ("skills", "languages"):
        names = data.get(key) or []
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise SeedError(f"{source}: {key} must be a list of names")
        getattr(directory, key).update(names)
    groups = {}
    for i, group in enumerate(data.get("groups") or []):
        if not isinstance(group, dict) or "name" not in group:
            raise SeedError(f"{source}: groups[{i}] needs a name")
        groups[group["name"]] = directory.add_group(group["name"])
    members: dict[str, list[dict[str, str]]] = {name: [] for name in groups}
    seeded: list[tuple[dict[str, Any], str]] = []
    for i, entry in enumerate(data.get("users") or []):
        if not isinstance(entry, dict):
            raise SeedError(f"{source}: users[{i}] must be a mapping")
        body = {k: v for k, v in entry.items() if k not in (*ENTERPRISE_KEYS, "roles", "groups")}
        ent = {k: entry[k] for k in ENTERPRISE_KEYS if k in entry}
        if ent:
            body[ENTERPRISE_USER] = ent
        body["roles"] = [{"value": r} for r in entry.get("roles") or []]
        try:
            user = directory.create_user(body)
        except ScimError as exc:
            raise SeedError(f"{source}: users[{i}]: {exc.detail}") from exc
        seeded.append((entry, user.id))
        for g in entry.get("groups") or []:
            if g not in groups:
                raise SeedError(f"{source}: users[{i}]: unknown group {g!r}")
            members[g].append({"value": user.id})
    for name, group in groups.items():
        if members[name]:
            directory.replace_group(group.id, {"displayName": name, "members": members[name]}, None)
    for i, group in enumerate(data.get("groups") or []):
        _seed_grants(directory, groups[group["name"]].id, "PC_GROUP", group, f"groups[{i}]", source)
    for i, (entry, user_id) in enumerate(seeded):
        _seed_grants(directory, user_id, "PC_USER", entry, f"users[{i}]", source)
    for division in read_only:
        directory.divisions.add(division.name, False, division.description)
    return directory


def _seed_grants(
    directory: Directory, subject_id: str, kind: str, entry: dict[str, Any], where: str, source: str
) -> None:
    """``grants: [{role: Supervisor, division: Sales}]`` on a user or a group (``*``: all)."""
    from scimctl.emulator.grants import ALL, GrantError

    grants = entry.get("grants") or []
    if not grants:
        return
    roles = {r.name: r.id for r in directory.roles.values()}
    pairs = []
    for g in grants if isinstance(grants, list) else [None]:
        if not isinstance(g, dict) or g.get("role") not in roles:
            raise SeedError(f"{source}: {where}: each grant needs a known role and a division")
        division = g.get("division", "Home")
        found = directory.divisions.by_name.get(division)
        if division != ALL and found is None:
            raise SeedError(f"{source}: {where}: unknown division {division!r}")
        pairs.append({"roleId": roles[g["role"]], "divisionId": found.id if found else ALL})
    try:
        directory.grants.change(subject_id, kind, {"grants": pairs}, "add")
    except GrantError as exc:
        raise SeedError(f"{source}: {where}: {exc.message}") from exc
