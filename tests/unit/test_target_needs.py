"""What the manifest needs of a target, judged from discovery documents alone
(scimctl/scim/needs.py): no network, the documents as services write them."""

from __future__ import annotations

from scimctl.model import Desired, GroupSpec, Location, TargetLimits, UserSpec
from scimctl.scim.needs import (
    attribute_problems,
    group_problems,
    lookup_problems,
    parse_schemas,
)
from scimctl.scim.schema import CORE_GROUP, CORE_USER, ENTERPRISE_USER

SCHEMAS = [
    {"id": CORE_USER, "attributes": [
        {"name": "userName", "mutability": "readWrite"},
        {"name": "displayName", "mutability": "immutable"},
        {"name": "title"},  # no mutability: readWrite (RFC 7643 7)
    ]},
    {"id": ENTERPRISE_USER, "attributes": [{"name": "department", "mutability": "readWrite"}]},
    {"id": CORE_GROUP, "attributes": [{"name": "members", "mutability": "readOnly"}]},
    "not a schema",
]  # fmt: skip


def desired(limits: TargetLimits | None = None, **attrs: object) -> Desired:
    loc = Location("scimctl.yaml", 12)
    user = UserSpec("E1", {"userName": "a@example.com", **attrs}, ("Sales",), loc)
    group = GroupSpec("Sales", location=Location("scimctl.yaml", 5))
    return Desired(users={"E1": user}, groups={"Sales": group}, limits=limits or TargetLimits())


def test_attributes_the_schema_makes_unwritable_or_lacks_are_named_with_their_line():
    schemas = parse_schemas(SCHEMAS)
    found = attribute_problems(
        desired(displayName="A", title="T", department="D", dateHire="2024-01-02"), schemas
    )
    assert [(p.where, p.field) for p in found] == [
        ("scimctl.yaml:12", "displayName"),
        ("scimctl.yaml:12", "dateHire"),
    ]
    assert "makes displayName immutable, so PATCH cannot change it" in found[0].message
    assert f"has no {ENTERPRISE_USER}:dateHire" in found[1].message
    # Declared unsupported: copes. An unlisted schema: nothing is known, nothing refused.
    declared = TargetLimits(unsupported=frozenset({"displayName", "dateHire"}))
    assert attribute_problems(desired(declared, displayName="A", dateHire="x"), schemas) == []
    assert attribute_problems(desired(displayName="A"), parse_schemas([])) == []


def test_group_writes_and_lookups():
    schemas = parse_schemas(SCHEMAS)
    (members,) = group_problems(desired(), ("User", "Group"), schemas)
    assert members.where == "scimctl.yaml:5" and "makes members readOnly" in members.message
    assert group_problems(desired(), ("User", "Group"), parse_schemas(SCHEMAS[:2])) == []
    groupless = TargetLimits(unsupported=frozenset({"groups"}))
    assert group_problems(desired(groupless), ("User",), schemas) == []
    where = TargetLimits(where="scimctl.yaml:2")
    (lookup,) = lookup_problems(desired(where), can_filter=False)
    assert (lookup.where, lookup.field) == ("scimctl.yaml:2", "target.lookup")
    assert lookup_problems(desired(where), can_filter=True) == []
    assert lookup_problems(desired(TargetLimits(lookup="pages")), can_filter=False) == []
