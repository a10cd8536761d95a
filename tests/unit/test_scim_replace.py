"""The local halves of two write fallbacks, on documents alone: a PATCH of plain
replaces carried out for a PUT (scim/replace.py), and emails written whole from a read
(scim/entries.py). tests/e2e/test_interop_flow.py meets both on django-scim2."""

from scimctl.scim.entries import whole_emails, written_whole
from scimctl.scim.replace import replaced
from scimctl.scim.schema import CORE_USER, ENTERPRISE_USER

USER = {
    "id": "7",
    "userName": "a@example.com",
    "name": {"givenName": "A"},
    "emails": [{"value": "a@example.com", "primary": True}, {"value": "h@x.net", "type": "home"}],
}


def test_plain_replaces_are_carried_out_on_a_copy():
    ops = [
        {"op": "replace", "path": "externalId", "value": "E7"},
        {"op": "replace", "path": "name.familyName", "value": "B"},
        {"op": "replace", "path": f"{ENTERPRISE_USER}:department", "value": "Sales"},
        {"op": "replace", "path": f"{CORE_USER}:title", "value": "Lead"},
        {"op": "replace", "path": "displayName", "value": None},
        {"op": "replace", "value": {"active": False}},
    ]
    doc = replaced(USER, ops)
    assert doc == {
        **USER, "externalId": "E7", "name": {"givenName": "A", "familyName": "B"},
        ENTERPRISE_USER: {"department": "Sales"}, "title": "Lead", "active": False,
    }  # fmt: skip
    assert "externalId" not in USER  # the read is not changed


def test_anything_but_a_plain_replace_is_left_to_the_service():
    for op in (
        {"op": "add", "path": "emails", "value": [{"value": "w@x"}]},
        {"op": "remove", "path": "title"},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@x"},
        {"op": "replace", "value": "not an object"},
    ):
        assert replaced(USER, [op]) is None, op


def test_emails_written_whole_keep_the_main_address_and_other_entries():
    rename = [{"op": "replace", "path": "userName", "value": "b@example.com"}]
    assert written_whole(rename)
    ops = whole_emails(rename, USER)
    assert ops[-1] == {
        "op": "replace", "path": "emails",
        "value": [{"value": "b@example.com", "type": "other", "primary": True},
                  {"value": "h@x.net", "type": "home"}],
    }  # fmt: skip
    work = [{"op": "replace", "path": "emails", "value": [{"value": "w@x", "type": "work"}]}]
    (op,) = whole_emails(work, USER)
    assert op["value"] == [
        {"value": "a@example.com", "type": "other", "primary": True},
        {"value": "w@x", "type": "work"},
        {"value": "h@x.net", "type": "home"},
    ]


def test_per_entry_writes_are_not_rewritten():
    ops = [
        {"op": "replace", "path": "userName", "value": "b@example.com"},
        {"op": "remove", "path": 'emails[value eq "a@example.com"]'},
        {"op": "add", "path": "emails", "value": [{"value": "b@example.com"}]},
    ]
    assert not written_whole(ops)
    assert not written_whole([{"op": "replace", "path": "title", "value": "x"}])
