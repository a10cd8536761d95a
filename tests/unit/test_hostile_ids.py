"""Ids from the service are data, never path.

The reproduction from issue 26: a listing answers a user whose ``id`` is
``../Groups/<a group's id>`` (with the group's version), and adopting that user sent
``PATCH .../Users/../Groups/<id>``, which arrives as a PATCH of the group.
"""

from __future__ import annotations

import pytest

from scimctl.scim.ids import id_problem, item_path
from scimctl.scim.transport import ApiError

USERS = "/api/v2/scim/v2/Users"


@pytest.mark.parametrize("bad", ["../Users/x", "a\nb", "%2e%2e/x"], ids=ascii)
def test_ids_are_checked_one_rule(bad):
    assert id_problem(bad) is not None
    with pytest.raises(ApiError):
        item_path(USERS, bad)


def test_a_member_id_stays_data_in_the_removal_filter():
    from scimctl.scim.mapping import members_patch

    body = members_patch([], ['x"] or [value pr'])
    assert body["Operations"][0]["path"] == 'members[value eq "x\\"] or [value pr"]'
