"""scimctl against scim2-server, an independent RFC 7643/7644 implementation.

scim2-server answers PATCH with 204, weak ETags and 412, honours filter.maxResults
and refuses unknown extension URNs, so it catches what our own emulator, written
to the same understanding as the client, cannot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import user
from flows import (
    GROUPS,
    TargetWorkspace,
    apply_once,
    converged,
    manifest,
    many,
    ok,
    people,
    quickstart,
)
from scim2_harness import CLIENT_ID, CLIENT_SECRET, TOKEN, Scim2Server

GROUP_NAMES = ("Support", "Support Tier1", "Sales")


@pytest.fixture
def scim2() -> Iterator[Callable[..., Scim2Server]]:
    started: list[Scim2Server] = []

    def start(**options: object) -> Scim2Server:
        server = Scim2Server(**options).__enter__()  # type: ignore[arg-type]
        started.append(server)
        for name in GROUP_NAMES:  # groups must exist: scimctl does not create them
            server.create_group(name)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


def scim_workspace(path: Path, server: Scim2Server, state: str) -> TargetWorkspace:
    target = {"provider": "scim", "base_url": server.scim_url}
    return TargetWorkspace(path, target, {"SCIM_TOKEN": TOKEN}, state)


def test_quickstart_flow_provider_scim(scim2, tmp_path, sqlite_url):
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    quickstart(ws, server, server.front.lose_replies)
    assert server.front.lost == 2
    for kept in (tmp_path / "plan.json", tmp_path / "state.db"):
        assert TOKEN.encode() not in kept.read_bytes()
    # It really was 204s and a 412 that scimctl met, not 200s and 400s.
    seen = set(server.front.statuses)
    assert ("PATCH", 204) in seen and ("PATCH", 412) in seen
    # The generic client makes no Genesys Platform call (roles, divisions, deleted users).
    assert [p for _, p in server.front.requests if "/api/" in p] == []


def test_quickstart_flow_genesys_provider(scim2, tmp_path, sqlite_url):
    server = scim2(genesys=True)
    target = {"provider": "genesys", "api_url": server.url}
    creds = {"GENESYS_CLIENT_ID": CLIENT_ID, "GENESYS_CLIENT_SECRET": CLIENT_SECRET}
    quickstart(
        TargetWorkspace(tmp_path, target, creds, sqlite_url), server, server.front.lose_replies
    )


def test_205_users_with_max_results_50(scim2, tmp_path, sqlite_url):
    server = scim2(max_results=50)
    many(scim_workspace(tmp_path, server, sqlite_url), server)


def test_what_the_service_cannot_do_is_refused_at_plan(scim2, tmp_path, sqlite_url):
    server = scim2(enterprise=False, patch=False)
    ws = scim_workspace(tmp_path, server, sqlite_url)
    ws.write_manifest(manifest(people()))
    result = ws.run("plan")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no enterprise User extension, so department cannot be managed" in result.stderr
    assert "no enterprise User extension, so division cannot be managed" in result.stderr
    assert "the service announces no PATCH support" in result.stderr
    assert not server.users()


def groups_named(server: Scim2Server, name: str) -> list[str]:
    """The ids of every group called ``name``, read without scimctl."""
    with server.http() as h:
        found = h.get("/Groups", params={"filter": f'displayName eq "{name}"'}).json()
    return [g["id"] for g in found.get("Resources") or []]


def test_an_opted_in_group_is_created_with_its_members_in_one_apply(scim2, tmp_path, sqlite_url):
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    new = {"name": "Escalations", "parent": "Support", "create": True}
    users = [
        user("E1", "jane@example.com", groups=["Escalations"]),
        user("E2", "amir@example.com", groups=["Sales"]),
    ]
    ws.write_manifest({**manifest(users), "groups": [*GROUPS, new]})
    assert not groups_named(server, "Escalations")
    planned = apply_once(ws)  # plans changes, applies in one run, then plans none
    assert "+ create group 'Escalations'" in planned
    assert "1 group to create" in planned and "1 new group" in planned
    (group_id,) = groups_named(server, "Escalations")
    assert server.members("Escalations") == {"E1"}
    assert server.members("Support") == {"E1"}  # the parent, as for any group
    assert f"group  Escalations\t1 managed member\t{group_id}" in ok(ws, "state", "list")
    history = ok(ws, "history", "--group", "Escalations")
    assert re.search(r"create_group\tgroup Escalations\t.*\tok\t201\t", history), history

    # The reply to the next group's POST is lost: it is looked up, never sent twice.
    night = {"name": "Night shift", "create": True}
    users[1] = user("E2", "amir@example.com", groups=["Sales", "Night shift"])
    ws.write_manifest({**manifest(users), "groups": [*GROUPS, new, night]})
    server.front.lose_replies.append("POST")
    out = ok(ws, "apply", "--auto-approve")
    assert "2 of 2 operations succeeded" in out, out
    assert not server.front.lose_replies, "no reply was lost: the test did not test anything"
    converged(ws)
    assert len(groups_named(server, "Night shift")) == 1
    assert server.members("Night shift") == {"E2"}


def test_a_deactivation_the_service_refuses_is_said_first_and_exits_3(scim2, tmp_path, sqlite_url):
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    ws.write_manifest(manifest(people()))
    apply_once(ws)
    leaver = server.users()["E3"]["id"]
    server.front.refuse[f"PATCH /Users/{leaver}"] = 403
    ws.write_manifest(manifest(people(with_e3=False)))
    result = ws.run("apply", "--auto-approve")
    assert result.returncode == 3, result.stdout + result.stderr
    # After the progress lines, the report starts with it, before any other failure.
    report = [ln for ln in result.stderr.splitlines() if not ln.startswith(("Read ", "Apply"))]
    assert report[0] == "NOT DEPROVISIONED: 1 leaver still has access:", result.stderr
    assert report[1].startswith("  deactivate:user:E3: PATCH /Users/")
    assert server.users()["E3"]["active"] is True
    # The membership removal it waited for is done, and reported apart from it.
    assert server.members("Support Tier1") == {"E1"}
    assert "PATCH /Users/" in result.stderr and "403" in result.stderr


def test_a_leaver_is_deactivated_when_the_group_change_is_refused(scim2, tmp_path, sqlite_url):
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    ws.write_manifest(manifest(people()))
    apply_once(ws)
    (tier1,) = groups_named(server, "Support Tier1")
    server.front.refuse[f"PATCH /Groups/{tier1}"] = 403
    ws.write_manifest(manifest(people(with_e3=False)))
    result = ws.run("apply", "--auto-approve")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "NOT DEPROVISIONED" not in result.stderr
    assert "failed: group:Support Tier1: PATCH /Groups/" in result.stderr
    assert "deactivate:user:E3" not in result.stderr
    assert server.users()["E3"]["active"] is False
    assert server.members("Support Tier1") == {"E1", "E3"}


def add_entries(server: Scim2Server, external_id: str) -> None:
    """A home email, added behind scimctl's back (not managed)."""
    uid = server.users()[external_id]["id"]
    ops = [
        {"op": "add", "path": "emails", "value": [{"value": "home@example.net", "type": "home"}]},
    ]
    with server.http() as h:
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
        h.patch(f"/Users/{uid}", json=body).raise_for_status()


def entries(server: Scim2Server, external_id: str) -> tuple[set, set]:
    """(type, value) of a user's emails and phone numbers, read with the server's listing."""
    u = server.users()[external_id]
    return (
        {(e.get("type"), e["value"]) for e in u.get("emails") or []},
        {(p.get("type"), p["value"]) for p in u.get("phoneNumbers") or []},
    )


def test_multi_valued_attributes_are_changed_by_entry(scim2, tmp_path, sqlite_url):
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    ws.write_manifest(manifest(people()))
    apply_once(ws)
    add_entries(server, "E1")
    # A work email and another work phone for E1, then a rename.
    staff = people()
    staff[0] = {**staff[0], "workEmail": "w1@corp.example.com",
                "phoneNumbers": [{"type": "work", "value": "+12125550102"}]}  # fmt: skip
    ws.write_manifest(manifest(staff))
    apply_once(ws)
    emails, phones = entries(server, "E1")
    assert emails == {
        ("other", "jane@example.com"), ("home", "home@example.net"),
        ("work", "w1@corp.example.com"),
    }  # fmt: skip
    assert phones == {("work", "+12125550102")}
    staff[0] = {**staff[0], "userName": "jane.doe@example.com"}
    ws.write_manifest(manifest(staff))
    apply_once(ws)
    emails, _ = entries(server, "E1")
    assert emails == {
        ("other", "jane.doe@example.com"), ("home", "home@example.net"),
        ("work", "w1@corp.example.com"),
    }  # fmt: skip
    assert server.users()["E1"]["userName"] == "jane.doe@example.com"


def test_a_revert_names_the_directory_not_genesys(scim2, tmp_path, sqlite_url):
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    ws.write_manifest(manifest(people()))
    apply_once(ws)
    server.set_title("E1", "Boss")
    planned = ok(ws, "plan")
    assert "reverts a change made in the directory: title" in planned, planned
    assert "Genesys" not in planned


def test_an_update_costs_one_request(scim2, tmp_path, sqlite_url):
    """scim2-server honours attributes= on PATCH (RFC 7644 3.5.2): the answer carries
    the user, so there is no read after the write."""
    server = scim2()
    ws = scim_workspace(tmp_path, server, sqlite_url)
    ws.write_manifest(manifest(people()))
    apply_once(ws)
    uid = server.users()["E1"]["id"]
    ws.write_manifest(manifest(people("Team Lead")))
    server.front.requests.clear()
    out = ok(ws, "apply", "--auto-approve")
    assert "1 of 1 operation succeeded" in out, out
    to_e1 = [r for r in server.front.requests if r[1] == f"/Users/{uid}"]
    assert to_e1 == [("PATCH", f"/Users/{uid}")], to_e1
    assert server.users()["E1"]["title"] == "Team Lead"
    converged(ws)


@pytest.mark.parametrize("lookup", ["externalId", "pages"])
def test_a_create_whose_answer_was_lost_is_found_not_sent_again(
    scim2, tmp_path, sqlite_url, lookup
):
    """The POST lands and its answer breaks off. Apply looks the account up, by an
    externalId filter or, where the manifest says the service cannot filter
    (`lookup: pages`), page by page, and records it without a second POST."""
    server = scim2()
    target = {"provider": "scim", "base_url": server.scim_url, "lookup": lookup}
    ws = TargetWorkspace(tmp_path, target, {"SCIM_TOKEN": TOKEN}, sqlite_url)
    ws.write_manifest(manifest([user("L1", "l1@example.com", groups=["Sales"])]))
    server.front.lose_replies.append("POST")
    start = len(server.front.requests)
    out = ok(ws, "apply", "--auto-approve")
    assert server.front.lost == 1, "no answer was lost: the test did not test anything"
    assert "2 of 2 operations succeeded" in out, out
    sent = list(zip(server.front.requests[start:], server.front.queries[start:], strict=True))
    posted = [
        i for i, ((method, path), _) in enumerate(sent) if (method, path) == ("POST", "/Users")
    ]
    assert len(posted) == 1, sent
    looked = [
        query for (method, path), query in sent[posted[0] :] if (method, path) == ("GET", "/Users")
    ]
    assert looked, sent
    by_key = [query for query in looked if "externalId+eq" in query or "userName+eq" in query]
    if lookup == "pages":  # every page read, and no filter on a key
        assert not by_key and any("filter" not in query for query in looked), looked
    else:
        assert by_key and "filter=externalId+eq" in by_key[0], looked
    assert [u["userName"] for u in server.users().values()] == ["l1@example.com"]
    assert server.members("Sales") == {"L1"}
    converged(ws)


def test_a_cursor_only_service_is_read_by_cursor(scim2, tmp_path, sqlite_url):
    """scim2-server announcing RFC 9865 cursor paging only (501 to startIndex)."""
    server = scim2(cursor_only=True, max_results=50)
    ws = scim_workspace(tmp_path, server, sqlite_url)
    many(ws, server, n=120)
    assert ("GET", 501) not in server.front.statuses  # announced: startIndex never sent


def test_a_refused_index_is_learned_once_per_run(scim2, tmp_path, sqlite_url):
    server = scim2(cursor_only=True, max_results=50)
    server.front.hide_pagination = True
    ws = scim_workspace(tmp_path, server, sqlite_url)
    users = [user(f"P{i:03}", f"p{i:03}@example.com", groups=["Sales"]) for i in range(60)]
    ws.write_manifest(manifest(users))
    planned = ws.run("plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    note = (
        "Note: the service refused paging by index (HTTP 501: Pagination by index is not "
        "supported); listings were read by cursor (RFC 9865) for the rest of the run"
    )
    assert planned.stderr.count(note) == 1, planned.stderr
    assert "60 to create" in planned.stdout
    applied = ok(ws, "apply", "--auto-approve")  # plans, then applies: said once all the same
    assert applied.count(note) == 1, applied
    converged(ws)
    assert len(server.users()) == 60 and len(server.members("Sales")) == 60


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "learned"])
def test_doctor_reads_a_cursor_only_service_by_cursor(scim2, tmp_path, sqlite_url, announced):
    """doctor pages as plan will: by cursor where the service announces it, or once it
    has refused startIndex; its paging, inactive and version checks then pass."""
    server = scim2(cursor_only=True, max_results=50)
    server.front.hide_pagination = not announced
    ws = scim_workspace(tmp_path, server, sqlite_url)
    users = [user(f"D{i:03}", f"d{i:03}@example.com") for i in range(70)]
    ws.write_manifest(manifest(users))
    ok(ws, "plan", "--new-state", "--out", "plan.json")
    ok(ws, "apply", "--auto-approve", "plan.json")
    out = ok(ws, "doctor")
    paged = r"ok\s+paging\s+pages by cursor \(RFC 9865\) hold at most 50 .*\(70 users\)"
    assert re.search(paged, out), out
    assert "refused paging by index" in out if not announced else "refused" not in out, out
    assert not re.search(r"(fail|warn)\s+(paging|inactive|etags)", out), out
