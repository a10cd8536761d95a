"""The emulator behaves like Genesys Cloud on every point scimctl relies on.

Each test talks to a running emulator over loopback HTTP with a real client.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from conftest import BASE_SEED, CLIENT_ID, CLIENT_SECRET

from scimctl.scim.schema import ENTERPRISE_USER, ERROR, GENESYS_USER, PATCH_OP

USERS = "/api/v2/scim/v2/Users"

GROUPS = "/api/v2/scim/v2/Groups"

ROOT = Path(__file__).resolve().parents[2]


def new_user(h: httpx.Client, name: str, **extra: object) -> dict:
    body = {"userName": name, "displayName": name.split("@")[0], **extra}
    resp = h.post(USERS, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def patch(*ops: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


def assert_scim_error(resp: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type


def test_token_with_basic_auth(emulator):
    resp = httpx.post(
        f"{emulator.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0 and body["access_token"]


def test_wrong_client_is_invalid_client(emulator):
    resp = httpx.post(
        f"{emulator.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, "wrong"),
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


def test_api_needs_a_valid_token(emulator):
    assert_scim_error(httpx.get(f"{emulator.url}{USERS}"), 401)
    bad = httpx.get(f"{emulator.url}{USERS}", headers={"Authorization": "Bearer nope"})
    assert_scim_error(bad, 401)


def test_expired_token_is_refused(start_emulator):
    emu = start_emulator(token_ttl=1)
    with emu.http() as h:
        assert h.get(USERS).status_code == 200
        time.sleep(1.1)
        assert_scim_error(h.get(USERS), 401)


def test_user_lifecycle_and_attributes_round_trip(emulator):
    with emulator.http() as h:
        boss = new_user(h, "boss@example.com")["id"]
        created = new_user(
            h,
            "jane@example.com",
            externalId="HR-1",
            title="Agent",
            active=True,
            roles=[{"value": "Agent"}],
            phoneNumbers=[{"value": "+15555550100", "type": "work"}],
            **{
                ENTERPRISE_USER: {
                    "division": "Home",
                    "department": "Support",
                    "employeeNumber": "42",
                    "manager": {"value": boss},
                },
                GENESYS_USER: {
                    "routingSkills": [{"name": "Billing", "proficiency": 3}],
                    "routingLanguages": [{"name": "German", "proficiency": 5}],
                    "externalIds": [{"authority": "hr", "value": "HR-1"}],
                },
            },
        )
        uid = created["id"]
        got = h.get(f"{USERS}/{uid}").json()
        assert got["externalId"] == "HR-1"
        assert got["title"] == "Agent"
        assert got["roles"] == [{"value": "Agent"}]
        assert got[ENTERPRISE_USER] == {
            "division": "Home",
            "department": "Support",
            "employeeNumber": "42",
            "manager": {"value": boss},
        }
        assert got[GENESYS_USER]["routingSkills"] == [{"name": "Billing", "proficiency": 3}]
        assert got[GENESYS_USER]["routingLanguages"] == [{"name": "German", "proficiency": 5}]
        assert {"authority": "hr", "value": "HR-1"} in got[GENESYS_USER]["externalIds"]
        assert {"value": "jane@example.com", "type": "other", "primary": True} in got["emails"]

        replaced = h.put(
            f"{USERS}/{uid}",
            json={"userName": "jane@example.com", "displayName": "Jane D", "active": False},
        )
        assert replaced.status_code == 200
        assert replaced.json()["displayName"] == "Jane D"
        assert replaced.json()["active"] is False

        ops = patch(
            {"op": "replace", "path": "title", "value": "Lead"},
            {"op": "add", "path": "roles", "value": [{"value": "Supervisor"}]},
            {"op": "replace", "path": f"{ENTERPRISE_USER}:department", "value": "Sales"},
            {"op": "replace", "value": {"active": True}},
        )
        patched = h.patch(f"{USERS}/{uid}", json=ops).json()
        assert patched["title"] == "Lead"
        assert patched["active"] is True
        assert patched["roles"] == [{"value": "Supervisor"}]
        assert patched[ENTERPRISE_USER]["department"] == "Sales"
        removed = h.patch(f"{USERS}/{uid}", json=patch({"op": "remove", "path": "title"})).json()
        assert "title" not in removed

        assert h.delete(f"{USERS}/{uid}").status_code == 204


def test_multi_valued_attributes_are_stored_as_sent_under_genesys_email_rules(emulator):
    """Entries are kept as sent, not rebuilt on read; the ``type: other`` email is the
    userName and read-only (docs/genesys.md, Emails and phone numbers)."""
    with emulator.http() as h:
        work = {"value": "jw@corp.example.com", "type": "work", "display": "Jane at work"}
        home = {"value": "+15555550111", "type": "home", "primary": False}
        uid = new_user(
            h,
            "jw@example.com",
            emails=[{"value": "someone@else.example.com", "type": "other"}, work],
            phoneNumbers=[{"value": "+15555550100", "type": "work"}, home],
        )["id"]
        main = {"value": "jw@example.com", "type": "other", "primary": True}
        got = h.get(f"{USERS}/{uid}").json()
        assert got["emails"] == [main, work]
        assert got["phoneNumbers"] == [{"value": "+15555550100", "type": "work"}, home]

        # Genesys's documented work-email write (replace emails with the work entry)
        # cannot drop the read-only main entry; an entry no write touched stays.
        new_work = {"value": "jw2@corp.example.com", "type": "work"}
        ops = patch(
            {"op": "replace", "path": "emails", "value": [new_work]},
            {"op": "remove", "path": 'phoneNumbers[value eq "+15555550100"]'},
        )
        got = h.patch(f"{USERS}/{uid}", json=ops).json()
        assert got["emails"] == [main, new_work]
        assert got["phoneNumbers"] == [home]

        # Removing every email or renaming: the main entry follows the userName.
        ops = patch(
            {"op": "remove", "path": "emails"},
            {"op": "replace", "path": "userName", "value": "jw.new@example.com"},
        )
        got = h.patch(f"{USERS}/{uid}", json=ops).json()
        assert got["emails"] == [{**main, "value": "jw.new@example.com"}]
        bad = patch({"op": "add", "path": "emails", "value": [{"value": "h@x.io", "type": "home"}]})
        assert_scim_error(h.patch(f"{USERS}/{uid}", json=bad), 400, "invalidValue")


def test_username_required_email_and_unique_case_insensitively(emulator):
    with emulator.http() as h:
        assert_scim_error(h.post(USERS, json={"displayName": "X"}), 400, "invalidValue")
        assert_scim_error(
            h.post(USERS, json={"userName": "not-an-email", "displayName": "X"}),
            400,
            "invalidValue",
        )
        new_user(h, "Dup@Example.com")
        assert_scim_error(
            h.post(USERS, json={"userName": "dup@example.COM", "displayName": "Y"}),
            409,
            "uniqueness",
        )


def test_display_name_required(emulator):
    with emulator.http() as h:
        assert_scim_error(h.post(USERS, json={"userName": "a@example.com"}), 400, "invalidValue")


def test_groups_on_a_user_are_read_only(emulator):
    with emulator.http() as h:
        uid = new_user(h, "ro@example.com")["id"]
        support = emulator.group("Support")["id"]
        resp = h.patch(
            f"{USERS}/{uid}",
            json=patch({"op": "add", "path": "groups", "value": [{"value": support}]}),
        )
        assert_scim_error(resp, 400, "mutability")


def test_roles_by_name_and_unknown_role_refused(emulator):
    with emulator.http() as h:
        assert_scim_error(
            h.post(
                USERS,
                json={
                    "userName": "r@example.com",
                    "displayName": "R",
                    "roles": [{"value": "Nope"}],
                },
            ),
            400,
            "invalidValue",
        )
        ok = new_user(h, "r@example.com", roles=[{"value": "Employee"}])
        assert ok["roles"] == [{"value": "Employee"}]


def test_paging_and_count_zero(emulator):
    with emulator.http() as h:
        for i in range(30):
            new_user(h, f"u{i:02}@example.com")
        page = h.get(USERS, params={"startIndex": 11, "count": 10}).json()
        assert page["totalResults"] == 30
        assert page["startIndex"] == 11
        assert page["itemsPerPage"] == 10
        assert [u["userName"] for u in page["Resources"]][0] == "u10@example.com"
        default = h.get(USERS).json()
        assert default["itemsPerPage"] == 25
        only_total = h.get(USERS, params={"count": 0}).json()
        assert only_total["totalResults"] == 30 and only_total["Resources"] == []


def test_large_pages_need_trimmed_attributes(emulator):
    with emulator.http() as h:
        resp = h.get(USERS, params={"count": 100})
        assert_scim_error(resp, 429)
        trimmed = h.get(USERS, params={"count": 100, "attributes": "id,userName"})
        assert trimmed.status_code == 200
        excluded = h.get(USERS, params={"count": 100, "excludedAttributes": "roles"})
        assert excluded.status_code == 200


def test_attributes_trim_the_response(emulator):
    with emulator.http() as h:
        new_user(h, "t@example.com", title="Agent", externalId="X1")
        got = h.get(USERS, params={"attributes": "externalId"}).json()["Resources"][0]
        assert got["externalId"] == "X1"
        assert "title" not in got
        assert {"id", "userName", "active", "meta"} <= set(got)


def test_filters(emulator):
    with emulator.http() as h:
        a = new_user(h, "Alpha@example.com", externalId="E-1")
        b = new_user(h, "beta@example.com", externalId="E-2", active=False)
        h.patch(
            f"{USERS}/{a['id']}",
            json=patch(
                {
                    "op": "add",
                    "path": "emails",
                    "value": [{"value": "alt@example.com", "type": "work"}],
                }
            ),
        )

        def ids(flt: str) -> set[str]:
            resp = h.get(USERS, params={"filter": flt})
            assert resp.status_code == 200, resp.text
            return {u["id"] for u in resp.json()["Resources"]}

        assert ids(f'id eq "{a["id"]}"') == {a["id"]}
        assert ids('userName eq "alpha@EXAMPLE.com"') == {a["id"]}
        assert ids('externalId eq "E-2"') == {b["id"]}
        assert ids('email eq "alt@example.com"') == {a["id"]}
        assert ids("active eq false") == {b["id"]}
        assert_scim_error(h.get(USERS, params={"filter": 'title co "x"'}), 400, "invalidFilter")
        assert_scim_error(h.get(USERS, params={"filter": 'title eq "x"'}), 400, "invalidFilter")


def test_list_without_filter_hides_inactive_users(emulator):
    with emulator.http() as h:
        new_user(h, "on@example.com")
        new_user(h, "off@example.com", active=False)
        names = {u["userName"] for u in h.get(USERS).json()["Resources"]}
        assert names == {"on@example.com"}


def test_versions_etag_if_match_and_if_none_match(emulator):
    with emulator.http() as h:
        created = h.post(USERS, json={"userName": "v@example.com", "displayName": "V"})
        etag = created.headers["ETag"]
        uid = created.json()["id"]
        assert created.json()["meta"]["version"] == etag
        assert h.get(f"{USERS}/{uid}", headers={"If-None-Match": etag}).status_code == 304
        changed = h.patch(
            f"{USERS}/{uid}",
            json=patch({"op": "replace", "path": "title", "value": "A"}),
            headers={"If-Match": etag},
        )
        assert changed.status_code == 200 and changed.headers["ETag"] != etag
        stale = h.patch(
            f"{USERS}/{uid}",
            json=patch({"op": "replace", "path": "title", "value": "B"}),
            headers={"If-Match": etag},
        )
        assert_scim_error(stale, 400, "invalidVers")
        assert h.get(f"{USERS}/{uid}", headers={"If-None-Match": etag}).status_code == 200
        group = emulator.group("Sales")
        assert_scim_error(
            h.patch(
                f"{GROUPS}/{group['id']}",
                json=patch({"op": "add", "path": "members", "value": [{"value": uid}]}),
                headers={"If-Match": '"999"'},
            ),
            400,
            "invalidVers",
        )


def test_delete_is_soft_and_keeps_username_reserved(emulator):
    with emulator.http() as h:
        uid = new_user(h, "gone@example.com")["id"]
        assert h.delete(f"{USERS}/{uid}").status_code == 204
        assert_scim_error(h.get(f"{USERS}/{uid}"), 404)
        assert all(u["id"] != uid for u in emulator.users())
        assert_scim_error(
            h.post(USERS, json={"userName": "gone@example.com", "displayName": "Again"}),
            409,
            "uniqueness",
        )


def test_group_membership_through_patch_and_put(emulator):
    with emulator.http() as h:
        a = new_user(h, "a@example.com")["id"]
        b = new_user(h, "b@example.com")["id"]
        group = emulator.group("Support")
        gid = group["id"]
        assert h.get(f"{GROUPS}/{gid}").json()["displayName"] == "Support"
        resp = h.patch(
            f"{GROUPS}/{gid}",
            json=patch({"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}),
        )
        assert {m["value"] for m in resp.json()["members"]} == {a, b}
        user_groups = h.get(f"{USERS}/{a}").json()["groups"]
        assert [g["value"] for g in user_groups] == [gid]
        resp = h.patch(
            f"{GROUPS}/{gid}", json=patch({"op": "remove", "path": f'members[value eq "{a}"]'})
        )
        assert {m["value"] for m in resp.json()["members"]} == {b}
        assert h.get(f"{USERS}/{a}").json()["groups"] == []
        assert_scim_error(h.patch(f"{GROUPS}/{gid}", json=patch({"op": "remove"})), 400, "noTarget")
        assert_scim_error(
            h.patch(
                f"{GROUPS}/{gid}",
                json=patch({"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}),
            ),
            400,
            "invalidValue",
        )
        put = h.put(f"{GROUPS}/{gid}", json={"displayName": "Support", "members": [{"value": a}]})
        assert [m["value"] for m in put.json()["members"]] == [a]


def test_groups_cannot_be_created_or_deleted(emulator):
    with emulator.http() as h:
        assert_scim_error(h.post(GROUPS, json={"displayName": "New"}), 405)
        gid = emulator.group("Sales")["id"]
        assert_scim_error(h.delete(f"{GROUPS}/{gid}"), 405)
        assert h.get(f"{GROUPS}/{gid}").status_code == 200


def test_group_list_and_filter(emulator):
    with emulator.http() as h:
        all_groups = h.get(GROUPS).json()
        assert all_groups["totalResults"] == 3
        found = h.get(GROUPS, params={"filter": 'displayName eq "sales"'}).json()["Resources"]
        assert [g["displayName"] for g in found] == ["Sales"]


def test_lowercase_paths_work_too(emulator):
    with emulator.http() as h:
        assert h.get("/api/v2/scim/v2/users").status_code == 200
        assert h.get("/api/v2/scim/v2/groups").status_code == 200


def test_roles_platform_paging_and_permissions(emulator):
    with emulator.http() as h:
        page = h.get("/api/v2/authorization/roles", params={"pageSize": 3}).json()
        assert page["total"] == 4 and page["pageCount"] == 2 and len(page["entities"]) == 3
        assert "nextUri" in page
        second = h.get(
            "/api/v2/authorization/roles", params={"pageSize": 3, "pageNumber": 2}
        ).json()
        names = [r["name"] for r in page["entities"] + second["entities"]]
        assert sorted(names) == ["Agent", "Employee", "Master Admin", "Supervisor"]
        admin = next(
            r for r in page["entities"] + second["entities"] if r["name"] == "Master Admin"
        )
        one = h.get(f"/api/v2/authorization/roles/{admin['id']}").json()
        assert "authorization:grant:add" in one["permissions"]
        policy = next(p for p in one["permissionPolicies"] if p["domain"] == "authorization")
        assert (policy["entityName"], policy["actionSet"]) == ("grant", ["add"])
        assert h.get("/api/v2/authorization/roles").json()["pageSize"] == 25


def test_discovery_endpoints_tell_the_truth(emulator):
    with emulator.http() as h:
        spc = h.get("/api/v2/scim/v2/ServiceProviderConfig").json()
        assert spc["patch"]["supported"] is True
        assert spc["bulk"]["supported"] is False
        assert spc["sort"]["supported"] is False
        assert spc["etag"]["supported"] is True
        types = h.get("/api/v2/scim/v2/ResourceTypes").json()["Resources"]
        assert {t["name"] for t in types} == {"User", "Group"}
        assert h.get("/api/v2/scim/v2/ResourceTypes/User").json()["endpoint"] == "/Users"
        schemas = h.get("/api/v2/scim/v2/Schemas").json()["Resources"]
        assert {s["id"] for s in schemas} >= {ENTERPRISE_USER, GENESYS_USER}
        groups_attr = next(
            a
            for s in schemas
            if s["name"] == "User"
            for a in s["attributes"]
            if a["name"] == "groups"
        )
        assert groups_attr["mutability"] == "readOnly"
        assert h.get("/api/v2/scim/v2/Schemas", params={"filter": "x"}).status_code == 403


def test_rate_limit_headers_and_retry_after(start_emulator):
    emu = start_emulator(rate_limit=5)
    with emu.http() as h:
        for i in range(5):
            resp = h.get(USERS)
            assert resp.status_code == 200
            assert resp.headers["inin-ratelimit-count"] == str(i + 1)
            assert resp.headers["inin-ratelimit-allowed"] == "5"
            assert 0 < int(resp.headers["inin-ratelimit-reset"]) <= 60
        limited = h.get(USERS)
        assert_scim_error(limited, 429)
        assert int(limited.headers["Retry-After"]) >= 1
    other = httpx.post(
        f"{emu.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    ).json()["access_token"]
    fresh = httpx.get(f"{emu.url}{USERS}", headers={"Authorization": f"Bearer {other}"})
    assert fresh.status_code == 200, "the limit is per token"


def test_latency_is_added(start_emulator):
    emu = start_emulator(latency_ms=150)
    with emu.http() as h:
        start = time.monotonic()
        h.get(USERS)
        assert time.monotonic() - start >= 0.15


def _fault_pattern(start_emulator, seed: int) -> list[str]:
    emu = start_emulator(error_rate=0.3, reset_rate=0.3, random_seed=seed)
    out = []
    with emu.http() as h:
        for _ in range(30):
            try:
                out.append(str(h.get(USERS).status_code))
            except httpx.TransportError:
                out.append("reset")
    return out


def test_faults_are_injected_and_reproducible(start_emulator):
    first = _fault_pattern(start_emulator, 7)
    assert "reset" in first
    assert any(code.startswith("5") for code in first)
    assert "200" in first
    assert _fault_pattern(start_emulator, 7) == first


def test_seed_users_and_groups_are_served(start_emulator):
    seed = {
        **BASE_SEED,
        "users": [
            {
                "userName": "s@example.com",
                "displayName": "S",
                "groups": ["Sales"],
                "department": "X",
            },
            {"userName": "i@example.com", "displayName": "I", "active": False},
        ],
    }
    emu = start_emulator(seed)
    assert emu.member_names("Sales") == {"s@example.com"}
    names = {u["userName"]: u for u in emu.users()}
    assert names["s@example.com"][ENTERPRISE_USER]["department"] == "X"
    assert names["i@example.com"]["active"] is False


def test_the_emulator_command_serves_a_seed(tmp_path):
    import subprocess
    import sys

    from conftest import start_cli_emulator

    scimctl = str(Path(sys.executable).parent / "scimctl")
    proc, port = start_cli_emulator(
        "--seed", str(ROOT / "examples/quickstart/seed.yaml"), "--rate-limit", "100/min"
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                token = httpx.post(
                    f"http://127.0.0.1:{port}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("scimctl-emulator", "emulator-secret"),
                ).json()["access_token"]
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        resp = httpx.get(
            f"http://127.0.0.1:{port}{USERS}", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.json()["totalResults"] == 2
        assert resp.headers["inin-ratelimit-allowed"] == "100"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    refused = subprocess.run(
        [scimctl, "emulator", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == 64 and "loopback only" in refused.stderr
