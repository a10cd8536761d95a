"""What a target cannot do, as plan and apply honour it (issue 20).

Against services scimctl did not write: django-scim2 (no filter on externalId, derives
displayName, stores no title) and scim2-server configured without groups and with a
read-only title. The plan refuses what the service lacks, naming the manifest line and
the capability, unless the manifest says how to cope; a value the service does not
store is shown once as not supported, never proposed forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import user
from django_scim2_harness import TOKEN as DJANGO_TOKEN
from django_scim2_harness import DjangoScim2Server
from flows import TargetWorkspace, converged, ok
from scim2_harness import TOKEN as SCIM2_TOKEN
from scim2_harness import Scim2Server
from unit.test_target_limits import manifest

from scimctl.config import BearerToken, resolve_target
from scimctl.model import LOOKUPS, TargetLimits
from scimctl.scim.client import connect


@pytest.fixture(scope="module")
def django_scim2() -> Iterator[DjangoScim2Server]:
    """One server for the module: each test uses its own users (and its own state)."""
    with DjangoScim2Server() as server:
        server.create_group("Sales")
        yield server


def django_ws(
    path: Path, server: DjangoScim2Server, state: str, **target: object
) -> TargetWorkspace:
    doc = {"provider": "scim", "base_url": server.scim_url, **target}
    return TargetWorkspace(path, doc, {"SCIM_TOKEN": DJANGO_TOKEN}, state)


def test_no_externalid_filter_is_refused_until_the_manifest_says_how_to_look_up(
    django_scim2, tmp_path, sqlite_url
):
    people = [user("L-1", "l1@example.com", displayName="l1@example.com", groups=["Sales"])]
    ws = django_ws(tmp_path, django_scim2, sqlite_url)
    ws.write_manifest(manifest(people))
    before = set(django_scim2.users())
    for command in (("plan",), ("apply", "--auto-approve")):
        refused = ws.run(*command)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (
            "scimctl.yaml:2: target.lookup: the service announces no filtering "
            "(ServiceProviderConfig filter.supported: false)" in refused.stderr
        ), refused.stderr
        assert "Traceback" not in refused.stderr
    assert set(django_scim2.users()) == before  # nothing written

    for lookup in ("userName", "pages"):
        ws = django_ws(tmp_path, django_scim2, sqlite_url, lookup=lookup)
        ws.write_manifest(manifest(people))
        ok(ws, "apply", "--auto-approve")
        converged(ws)
    assert django_scim2.members("Sales") >= {"L-1"}
    # What apply's duplicate guard sees: the externalId filter finds no one here.
    target = resolve_target("scim", base_url=django_scim2.scim_url)
    with connect(target, BearerToken(DJANGO_TOKEN)) as client:
        found = {}
        for lookup in LOOKUPS:
            client.limits = TargetLimits(lookup=lookup)
            hit = client.find_user("L-1", None)
            found[lookup] = hit.user_name if hit else None
        client.limits = TargetLimits(lookup="userName")
        by_name = client.find_user("L-1", "l1@example.com")
    assert found == {"externalId": None, "userName": None, "pages": "l1@example.com"}
    assert by_name is not None and by_name.external_id == "L-1"


def test_a_value_not_stored_is_shown_once_then_declared_and_not_sent(
    django_scim2, tmp_path, sqlite_url
):
    people = [
        user(f"N-{i}", f"n{i}@example.com", displayName=f"Person {i}", title="Agent")
        for i in range(3)
    ]
    ws = django_ws(tmp_path, django_scim2, sqlite_url, lookup="userName")
    ws.write_manifest(manifest(people, groups=False))
    out = ok(ws, "apply", "--auto-approve")
    assert "create:user:N-1: displayName not stored by the service" in out, out
    assert "title not stored by the service: sent 'Agent', kept None" in out, out

    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    lines = [ln.strip() for ln in plan.stdout.splitlines()]
    i = lines.index("Not supported by this service (not proposed):")
    assert lines[i + 2 : i + 4] == [
        "= displayName: not supported by this service: a value sent for 3 users (e.g. N-0) "
        "was not stored, so it is not sent again until the manifest changes it; declare it in "
        "target.unsupported to stop sending it",
        "= title: not supported by this service: a value sent for 3 users (e.g. N-0) was not "
        "stored, so it is not sent again until the manifest changes it; declare it in "
        "target.unsupported to stop sending it",
    ], plan.stdout
    md = ok(ws, "plan", "--format", "markdown")
    assert "#### Not supported by this service (2)" in md

    # Declared: never sent (a new user's create carries neither), never compared.
    ws = django_ws(
        tmp_path, django_scim2, sqlite_url, lookup="userName", unsupported=["displayName", "title"]
    )
    people.append(user("N-3", "n3@example.com", displayName="Person 3", title="Agent"))
    ws.write_manifest(manifest(people, groups=False))
    out = ok(ws, "apply", "--auto-approve")
    assert "not stored" not in out and "1 of 1 operation succeeded" in out, out
    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "= displayName: target.unsupported in the manifest: never sent" in plan.stdout
    assert "a value sent for" not in plan.stdout


def test_group_writes_and_a_read_only_attribute_are_refused_unless_declared(tmp_path, sqlite_url):
    with Scim2Server(groups=False, read_only=("title",)) as server:
        target = {"provider": "scim", "base_url": server.scim_url}
        ws = TargetWorkspace(tmp_path, target, {"SCIM_TOKEN": SCIM2_TOKEN}, sqlite_url)
        people = [user(f"G-{i}", f"g{i}@example.com", title="Agent", groups=["Sales"])
                  for i in range(2)]  # fmt: skip
        ws.write_manifest(manifest(people))
        for command in (("plan",), ("apply", "--auto-approve")):
            refused = ws.run(*command)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            err = refused.stderr
            assert (
                "scimctl.yaml:10: title: set for 2 users (e.g. G-0), but the service's schema "
                "(/Schemas) makes title readOnly, so PATCH cannot change it" in err
            ), err
            assert (
                "scimctl.yaml:8: groups: the manifest manages 1 group, but the service lists "
                "no Group resource type (/ResourceTypes)" in err
            ), err
        assert not server.users()

        ws = TargetWorkspace(
            tmp_path, {**target, "unsupported": ["title", "groups"]},
            {"SCIM_TOKEN": SCIM2_TOKEN}, sqlite_url,
        )  # fmt: skip
        ws.write_manifest(manifest(people))
        ok(ws, "apply", "--auto-approve")
        converged(ws)
        assert sorted(server.users()) == ["G-0", "G-1"]
        assert all("title" not in u for u in server.users().values())


def checks(result) -> list[tuple[str, str, str]]:
    return [tuple(line.split(None, 2)) for line in result.stdout.splitlines()[1:]]


def test_doctor_write_round_trips_each_attribute_and_a_member_removal(
    django_scim2, tmp_path, sqlite_url
):
    people = [user("D-1", "d1@example.com", displayName="Person", title="Agent", groups=["Sales"])]
    ws = django_ws(tmp_path, django_scim2, sqlite_url)
    ws.write_manifest(manifest(people))
    refused = ws.run("doctor")
    assert refused.returncode == 1
    assert ("fail", "manifest") in {c[:2] for c in checks(refused)}
    assert "target.lookup: the service announces no filtering" in refused.stdout

    # django-scim2 keeps neither displayName nor title as sent: doctor says so.
    ws = django_ws(tmp_path, django_scim2, sqlite_url, lookup="userName")
    ws.write_manifest(manifest(people))
    before = (set(django_scim2.users()), django_scim2.members("Sales"))
    result = ws.run("doctor", "--write")
    found = checks(result)
    assert ("ok", "manifest", "the service offers what the manifest needs") in found
    assert ("warn", "filter", "no filter support: target.lookup: userName instead") in found
    assert ("ok", "patch", "PATCH answers 200; a deactivation is stored") in found
    trips = sorted((s, d) for s, n, d in found if n == "roundtrip")
    assert [s for s, _ in trips] == ["warn", "warn"], found
    assert trips[0][1].startswith("displayName not stored by the service: sent 'Person', kept ")
    assert trips[1][1] == (
        "title not stored by the service: sent 'Agent', kept None; declare it in "
        "target.unsupported to stop sending it"
    )
    (membership,) = [(s, d) for s, n, d in found if n == "membership"]
    assert membership == (
        "warn",
        "Sales: member added and removed by value only: the filter form is refused (HTTP "
        "501); apply switches to the value form after the first refusal",
    ), found
    assert ("ok", "cleanup") in {c[:2] for c in found}, found
    assert result.returncode == 0, result.stdout  # warnings only
    assert (set(django_scim2.users()), django_scim2.members("Sales")) == before

    ws = django_ws(tmp_path, django_scim2, sqlite_url, lookup="userName",
                   unsupported=["displayName", "title"])  # fmt: skip
    ws.write_manifest(manifest(people))
    result = ws.run("doctor", "--write")
    found = checks(result)
    assert result.returncode == 0, result.stdout
    assert sorted((s, d) for s, n, d in found if n == "roundtrip") == [
        ("skip", "displayName: declared in target.unsupported"),
        ("skip", "title: declared in target.unsupported"),
    ]
    assert (set(django_scim2.users()), django_scim2.members("Sales")) == before
