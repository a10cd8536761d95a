"""scimctl against django-scim2 0.23 (default adapters in a minimal Django project).

django-scim2 refuses the RFC 7644 member-removal filter form with 501, cannot filter
on externalId, keeps versions nowhere and derives displayName from the name parts: a
service much less capable than the one scimctl was written against, which is what
makes it worth testing against.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import user
from django_scim2_harness import TOKEN, DjangoScim2Server
from flows import TargetWorkspace, converged, ok

GROUPS = [{"name": "Sales"}, {"name": "Support"}]


@pytest.fixture
def django_scim2() -> Iterator[DjangoScim2Server]:
    with DjangoScim2Server() as server:
        for group in GROUPS:
            server.create_group(group["name"])
        yield server


def workspace(path: Path, server: DjangoScim2Server, state: str) -> TargetWorkspace:
    # It cannot filter on externalId (but does on userName): the manifest says so.
    target = {"provider": "scim", "base_url": server.scim_url, "lookup": "userName"}
    return TargetWorkspace(path, target, {"SCIM_TOKEN": TOKEN}, state)


def staff(n: int, leavers: int = 0) -> list[dict]:
    """n users, every third in Sales and the others in Support; the last ``leavers`` gone.

    displayName is the userName: django-scim2 derives it from the name parts and keeps
    the userName when there are none."""
    return [
        user(
            f"E-{i:04}",
            f"u{i:04}@example.com",
            displayName=f"u{i:04}@example.com",
            groups=["Sales" if i % 3 == 0 else "Support"],
        )  # fmt: skip
        for i in range(n - leavers)
    ]


def doc(users: list[dict]) -> dict:
    return {"policy": {"max_deprovision": "100%"}, "groups": GROUPS, "users": users}


def test_leavers_who_are_group_members_are_deactivated(django_scim2, tmp_path, sqlite_url):
    ws = workspace(tmp_path, django_scim2, sqlite_url)
    ws.write_manifest(doc(staff(20)))
    ok(ws, "apply", "--auto-approve")
    assert len(django_scim2.users()) == 20
    assert len(django_scim2.members("Sales")) == 7
    ws.write_manifest(doc(staff(20, leavers=12)))
    out = ok(ws, "apply", "--auto-approve")
    assert "NOT DEPROVISIONED" not in out and "14 of 14 operations succeeded" in out, out
    # django-scim2 answers 501 to members[value eq "…"]: learned once, said once.
    assert out.count("Note: the service refused member removal by filter") == 1, out
    assert "HTTP 501" in out
    users = django_scim2.users()
    leavers = [f"E-{i:04}" for i in range(8, 20)]
    assert [k for k in leavers if users[k]["active"]] == [], out
    assert all(users[f"E-{i:04}"]["active"] for i in range(8))
    # Only the leavers left the groups (read with the server's own listing).
    assert django_scim2.members("Sales") == {"E-0000", "E-0003", "E-0006"}
    assert django_scim2.members("Support") == {f"E-{i:04}" for i in range(8) if i % 3}
    converged(ws)


def test_a_rename_on_a_service_without_value_filters(django_scim2, tmp_path, sqlite_url):
    ws = workspace(tmp_path, django_scim2, sqlite_url)
    staff3 = staff(3)
    ws.write_manifest(doc(staff3))
    ok(ws, "apply", "--auto-approve")
    staff3[1] = {**staff3[1], "userName": "renamed@example.com"}
    ws.write_manifest(doc(staff3))
    out = ok(ws, "apply", "--auto-approve")
    # django-scim2 answers 501 to emails[value eq "…"]: the lists are written whole.
    assert "Note: the service refused emails/phoneNumbers changed by entry" in out, out
    assert django_scim2.users()["E-0001"]["userName"] == "renamed@example.com"


def test_a_value_the_service_does_not_store_is_reported_once_not_looped(
    django_scim2, tmp_path, sqlite_url
):
    ws = workspace(tmp_path, django_scim2, sqlite_url)
    staff4 = [
        user(f"E-{i:04}", f"u{i:04}@example.com", displayName=f"User {i:04}") for i in range(4)
    ]
    ws.write_manifest(doc(staff4))
    out = ok(ws, "apply", "--auto-approve")
    # django-scim2 answers displayName derived from the name parts: the userName here.
    assert (
        "create:user:E-0001: displayName not stored by the service: "
        "sent 'User 0001', kept 'u0001@example.com'" in out
    ), out
    assert "4 of 4 operations succeeded" in out
    converged(ws)  # not the same update proposed forever
    history = ok(ws, "history", "--format", "json", "--limit", "100")
    assert '"stored": "u0001@example.com"' in history
    # A different displayName is asked for again.
    staff4[2] = {**staff4[2], "displayName": "Someone Else"}
    ws.write_manifest(doc(staff4))
    planned = ws.run("plan", "--detailed-exitcode")
    assert planned.returncode == 2 and "Someone Else" in planned.stdout


def test_doctor_does_not_call_a_401_reachable_nor_trust_the_active_filter(
    django_scim2, tmp_path, sqlite_url
):
    ws = workspace(tmp_path, django_scim2, sqlite_url)
    django_scim2.create_user("someone@example.com")
    ws.write_manifest(doc(staff(1)))
    result = ws.run("doctor")
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    line = next(ln for ln in out.splitlines() if "reachability" in ln)
    assert "HTTP 401" not in line or not line.lstrip().startswith("ok"), out
    inactive = next(ln for ln in out.splitlines() if "inactive" in ln)
    assert "returns 0 of 1 users" in inactive and "unreliable" in inactive, out
