"""The whole flow against each of three SCIM servers scimctl did not write.

For scim2-server, SCIMMY and django-scim2 (each from its own package, one process per
server for this module): doctor; plan and apply of some hundred users with groups,
some of them adopted from accounts made outside scimctl; a second plan with no
changes; attribute changes, leavers who are group members, renames and a work email
in one apply; import. What users check is checked with the server's own listing
(tests/scim_peer.py), never with scimctl: every leaver inactive, every membership as
planned, and an email entry that scimctl does not manage still there.

What each server can hold differs (django-scim2 keeps one email, no title, no
phone numbers and no enterprise data); the manifest asks each only for what it can
hold, except a title on django-scim2, which must be reported once as not stored and
then left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import user
from flows import TargetWorkspace, converged, ok
from scim_peer import PATCH_OP, ScimPeer

from scimctl.scim.schema import ENTERPRISE_USER

N = 200
LEAVERS = range(N - 10, N)  # group members all
RENAMED = (20, 21, 22)
ADOPTED = (0, 1, 2, 3)  # made outside scimctl, userName only
HOME = 5  # gets a home email out of band, then a work email from scimctl
WORK = (5, 6)
TITLED = range(30, 40)
GROUPS = [{"name": "Sales"}, {"name": "Support"}]


@dataclass(frozen=True)
class Holds:
    """What a server stores of what scimctl may send."""

    title: bool = True
    department: bool = True
    emails: bool = True  # more than one email entry, and phone numbers
    doctor_ok: bool = True


@dataclass
class Server:
    name: str
    peer: ScimPeer
    holds: Holds


def _scim2() -> tuple[Any, Holds]:
    from scim2_harness import Scim2Server

    return Scim2Server(), Holds()


def _scimmy() -> tuple[Any, Holds]:
    from scimmy_harness import ScimmyServer, missing

    why = missing()
    if why:
        pytest.skip(why)
    return ScimmyServer(), Holds()


def _django() -> tuple[Any, Holds]:
    from django_scim2_harness import DjangoScim2Server

    # No filter on externalId: its target says target.lookup: userName
    # (test_interop_django.workspace); without it plan refuses (test_target_limits.py).
    return DjangoScim2Server(), Holds(title=False, department=False, emails=False)


STARTERS = {"scim2-server": _scim2, "SCIMMY": _scimmy, "django-scim2": _django}


@pytest.fixture(scope="module", params=list(STARTERS))
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    peer, holds = STARTERS[request.param]()
    with peer:
        for group in GROUPS:
            peer.create_group(group["name"])
        for i in ADOPTED:
            peer.create_user(f"u{i:03}@example.com")
        yield Server(request.param, peer, holds)


def staff(s: Server, renamed: bool = False, changed: bool = False) -> list[dict[str, Any]]:
    """The feed: N users, every third in Sales, the others in Support; ``changed`` adds
    the titles, departments, work emails and drops the leavers."""
    out = []
    for i in range(N):
        if changed and i in LEAVERS:
            continue
        name = f"u{i:03}@example.com"
        if renamed and i in RENAMED:
            name = f"renamed{i:03}@example.com"
        # django-scim2 derives displayName from the name parts: the userName here.
        extra: dict[str, Any] = {"displayName": name if not s.holds.title else f"User {i:03}"}
        if s.holds.department and i % 10 == 0:
            extra["department"] = "Sales" if i % 3 == 0 else "Support"
        if changed and i in TITLED and (s.holds.title or i == TITLED[0]):
            extra["title"] = "Team Lead"
        if changed and i in WORK and s.holds.emails:
            extra["workEmail"] = f"w{i:03}@corp.example.com"
        if s.holds.emails and i % 10 == HOME:
            phone = f"+1212555{i:04}" if not (changed and i == HOME) else "+12125559999"
            extra["phoneNumbers"] = [{"type": "work", "value": phone}]
        out.append(user(f"E{i:03}", name, groups=["Sales" if i % 3 == 0 else "Support"], **extra))
    return out


def manifest(users: list[dict[str, Any]]) -> dict[str, Any]:
    # phoneNumbers additive: a number someone else added is theirs (README, ownership).
    policy = {"max_deprovision": "10%", "ownership": {"phoneNumbers": "additive"}}
    return {"policy": policy, "groups": GROUPS, "users": users}


def add_home_entries(peer: ScimPeer, external_id: str) -> None:
    """Entries scimctl does not manage, added by someone else through the server."""
    uid = peer.users()[external_id]["id"]
    home = [{"value": "home@example.net", "type": "home"}]
    ops = [
        {"op": "add", "path": "emails", "value": home},
        {"op": "add", "path": "phoneNumbers", "value": [{"value": "+33100000000", "type": "home"}]},
    ]
    body = {"schemas": [PATCH_OP], "Operations": ops}
    with peer.http() as h:
        h.patch(f"/Users/{uid}", json=body).raise_for_status()


def emails(u: dict[str, Any], name: str = "emails") -> set[tuple[Any, str]]:
    return {(e.get("type"), e["value"]) for e in u.get(name) or []}


def test_the_whole_flow(server: Server, tmp_path: Path, sqlite_url: str) -> None:
    s, peer = server, server.peer
    if s.name == "django-scim2":  # the target as its own module declares it
        from e2e.test_interop_django import workspace

        ws = workspace(tmp_path, peer, sqlite_url)  # type: ignore[arg-type]
    else:
        target = {"provider": "scim", "base_url": peer.scim_url}
        ws = TargetWorkspace(tmp_path, target, {"SCIM_TOKEN": peer.token}, sqlite_url)
    ws.write_manifest(manifest(staff(s)))

    doctor = ws.run("doctor")
    said = doctor.stdout + doctor.stderr
    assert "Traceback" not in said, said
    # django-scim2 lacks what scimctl uses (test_interop_django.py says what).
    assert doctor.returncode == 0 or (doctor.returncode == 1 and not s.holds.doctor_ok), said

    # Plan and apply: N users, ADOPTED of them adopted, not created twice.
    planned = ws.run("plan", "--out", "plan.json", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert len(re.findall(r"adopt user E00[0-3]\b", planned.stdout)) == len(ADOPTED)
    assert f"{N - len(ADOPTED)} to create" in planned.stdout, planned.stdout
    out = ok(ws, "apply", "plan.json")
    assert re.search(r"([\d,]+) of \1 operations? succeeded", out), out
    if s.name == "django-scim2":  # 501 to replace externalId: adopted by PUT, said once
        assert out.count("Note: the service refused a PATCH of plain attributes") == 1, out
    # A plan of N managed users on a service without versions reads pages, not users.
    quiet = ws.run("--debug", "plan", "--detailed-exitcode")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    reads = re.findall(r"GET (/Users\S*) ->", quiet.stderr)
    assert reads and all(r == "/Users" for r in reads), reads
    users = peer.users()
    assert len(users) == N and all(u["active"] for u in users.values())
    assert peer.members("Sales") == {f"E{i:03}" for i in range(N) if i % 3 == 0}

    if s.holds.emails:
        add_home_entries(peer, f"E{HOME:03}")
    # Attribute changes, leavers who are group members, renames, work emails: one apply.
    ws.write_manifest(manifest(staff(s, renamed=True, changed=True)))
    planned = ws.run("plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert planned.stdout.count("deactivate user") == len(LEAVERS), planned.stdout
    out = ok(ws, "apply", "--auto-approve")
    assert "NOT DEPROVISIONED" not in out, out
    if not s.holds.title:  # reported once, then not proposed again
        assert "title not stored by the service: sent 'Team Lead'" in out, out
    if s.name == "django-scim2":
        assert "Note: the service refused member removal by filter" in out, out
        assert "Note: the service refused emails/phoneNumbers changed by entry" in out, out
    converged(ws)

    users = peer.users()
    leavers = {f"E{i:03}" for i in LEAVERS}
    assert [k for k in sorted(leavers) if users[k]["active"]] == []
    assert [k for k, u in users.items() if k not in leavers and not u["active"]] == []
    for group in ("Sales", "Support"):
        assert not peer.members(group) & leavers, group
    for i in RENAMED:
        assert users[f"E{i:03}"]["userName"] == f"renamed{i:03}@example.com"
    if s.holds.title:
        assert all(users[f"E{i:03}"].get("title") == "Team Lead" for i in TITLED)
    if s.holds.department:  # enterprise data, which SCIMMY refuses attributes= over
        assert users["E010"][ENTERPRISE_USER] == {"department": "Support"}
    if s.holds.emails:
        assert emails(users[f"E{HOME:03}"]) >= {
            ("home", "home@example.net"),
            ("work", f"w{HOME:03}@corp.example.com"),
        }, users[f"E{HOME:03}"]
        assert ("work", f"w{WORK[1]:03}@corp.example.com") in emails(users[f"E{WORK[1]:03}"])
        assert emails(users[f"E{HOME:03}"], "phoneNumbers") == {
            ("home", "+33100000000"),
            ("work", "+12125559999"),
        }
    for i in RENAMED:  # the main address follows the rename, wherever it is an entry
        values = {v for _, v in emails(users[f"E{i:03}"])}
        assert f"u{i:03}@example.com" not in values, users[f"E{i:03}"]

    # Import into a state of its own: the manifest it writes plans no changes.
    imported = f"sqlite:///{tmp_path / 'imported.db'}"
    said = ok(ws, "import", "--out", "imported.yaml", "--state", imported)
    assert f"Wrote imported.yaml: {N} users" in said or f"{N - len(LEAVERS)} users" in said, said
    doc = yaml.safe_load((tmp_path / "imported.yaml").read_text())
    assert {u["externalId"] for u in doc["users"]} >= {f"E{i:03}" for i in range(N - 10)}
    again = ws.run("plan", "-m", "imported.yaml", "--state", imported, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
