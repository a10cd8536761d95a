"""Genesys behaviours the emulator imitates (issue 12) and how scimctl copes with them:
search lag, the default Employee role, divisions and the request body limit."""

from __future__ import annotations

from conftest import BASE_SEED

from scimctl.emulator.directory import Directory
from scimctl.emulator.seed import apply_seed


def test_search_lag_hides_writes_from_listings_but_not_from_get_by_id():
    now = [100.0]
    d = Directory()
    apply_seed({**BASE_SEED, "users": [{"userName": "old@example.com", "displayName": "Old"}]}, d)
    d.enable_search_lag(3)
    assert d.search is not None
    d.search._clock = lambda: now[0]
    assert [u.doc["userName"] for u in d.find_users(None)] == ["old@example.com"], "seed is indexed"
    new = d.create_user({"userName": "new@example.com", "displayName": "New"})
    old = d.find_users('userName eq "old@example.com"')[0]
    d.patch_user(old.id, [{"op": "replace", "path": "title", "value": "Lead"}], None)
    assert d.get_user(new.id).doc["userName"] == "new@example.com"
    assert d.find_users('externalId eq "x"') == [] and len(d.find_users(None)) == 1
    assert d.find_users('userName eq "new@example.com"') == []
    assert d.find_users(None)[0].version == 1 and "title" not in d.find_users(None)[0].doc
    now[0] += 3
    listed = {u.doc["userName"]: u for u in d.find_users(None)}
    assert set(listed) == {"old@example.com", "new@example.com"}
    assert (
        listed["old@example.com"].version == 2 and listed["old@example.com"].doc["title"] == "Lead"
    )


def test_listed_versions_behind_state_and_the_default_role_rule():
    from scimctl.model import LiveUser
    from scimctl.plan.diff import keep_default_role
    from scimctl.scim.fresh import older

    assert older('"3"', '"4"') and not older('"5"', '"4"') and not older('"4"', '"4"')
    assert older('"a"', '"b"') and not older(None, None) and older(None, '"1"')
    live = LiveUser("1", "E1", {"userName": "a@example.com", "roles": ["Agent", "Employee"]})
    bare = LiveUser("1", "E1", {"userName": "a@example.com", "roles": ["Agent"]})
    wanted = {"userName": "a@example.com", "roles": ["Supervisor"]}
    assert keep_default_role(wanted, live, "Employee")["roles"] == ["Employee", "Supervisor"]
    assert keep_default_role(wanted, bare, "Employee") == wanted, "never asks for it"
    assert keep_default_role(wanted, live, None) == wanted
    assert keep_default_role({"userName": "a@example.com"}, live, "Employee") == {
        "userName": "a@example.com"
    }
