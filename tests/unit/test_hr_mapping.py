"""SCIM mapping of the newer user attributes: what is sent is what is read back."""

from __future__ import annotations

import pytest

from scimctl.emulator.directory import Directory, ScimError
from scimctl.scim.mapping import user_from_scim, user_patch, user_to_scim
from scimctl.scim.schema import ENTERPRISE_USER, GENESYS_USER

ATTRS = {
    "userName": "a@example.com",
    "displayName": "A",
    "active": True,
    "employeeNumber": "0042",
    "workEmail": "a.work@example.com",
    "dateHire": "2024-03-01",
    "phoneNumbers": [["work", "tel:+12125550101;ext=214"]],
    "routingSkills": [["Billing", 4.0], ["Sales", 0.5]],
    "routingLanguages": [["Spanish", 3.0]],
}


def directory() -> Directory:
    d = Directory()
    d.skills.update({"Billing", "Sales"})
    d.languages.add("Spanish")
    return d


def test_create_body_round_trips_through_the_emulator():
    d = directory()
    boss = d.create_user({"userName": "boss@example.com", "displayName": "Boss"})
    body = user_to_scim({**ATTRS, "manager": boss.id}, "K1")
    assert body[ENTERPRISE_USER]["manager"] == {"value": boss.id}
    assert {"value": "a.work@example.com", "type": "work"} in body["emails"]
    assert body[GENESYS_USER]["routingSkills"][0] == {"name": "Billing", "proficiency": 4.0}
    live = user_from_scim(d.user_doc(d.create_user(body)))
    for name, value in ATTRS.items():
        assert live.attrs[name] == value, name
    assert live.attrs["manager"] == boss.id


def test_patches_change_and_clear_the_new_attributes():
    d = directory()
    res = d.create_user(user_to_scim(ATTRS, "K1"))
    patch = user_patch(
        {"workEmail": "new@example.com", "routingSkills": [["Sales", 5.0]], "dateHire": None}
    )
    d.patch_user(res.id, patch["Operations"], None)
    live = user_from_scim(d.user_doc(res))
    assert live.attrs["workEmail"] == "new@example.com"
    assert live.attrs["routingSkills"] == [["Sales", 5.0]]
    assert live.attrs["dateHire"] is None
    assert live.attrs["userName"] == "a@example.com"  # emails[type=other] untouched
    d.patch_user(res.id, user_patch({"workEmail": None})["Operations"], None)
    assert user_from_scim(d.user_doc(res)).attrs["workEmail"] is None


def test_emulator_keeps_the_date_part_of_date_hire_and_rejects_bad_dates():
    d = directory()
    res = d.create_user(
        {
            "userName": "b@example.com",
            "displayName": "B",
            ENTERPRISE_USER: {"dateHire": "2024-03-01T09:30:00Z"},
        }
    )
    assert d.user_doc(res)[ENTERPRISE_USER]["dateHire"] == "2024-03-01"
    with pytest.raises(ScimError) as info:
        d.create_user(
            {"userName": "c@example.com", "displayName": "C", ENTERPRISE_USER: {"dateHire": "soon"}}
        )
    assert info.value.status == 400
