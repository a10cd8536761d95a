"""Listings paged by cursor (RFC 9865) cannot run away either.

A hostile server (tests/hostile.py) answers the listing of a cursor-only service
badly, one way per case: the read ends in one line naming the listing and the rule
that stopped it. The well-behaved service is scim2-server, in tests/e2e/test_interop.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE_SEED, CLIENT_ID, CLIENT_SECRET
from hostile import Handler, Hostile

from scimctl.config import BearerToken, resolve_target
from scimctl.errors import ScimctlError
from scimctl.scim.client import ScimClient
from scimctl.scim.transport import RetryPolicy

ROOT = "/scim/v2"
FRESH = itertools.count(100)
CURSOR_ONLY = {"pagination": {"cursor": True, "index": False}, "filter": {"supported": True}}


def user(n: int) -> dict[str, Any]:
    return {"id": f"u{n}", "userName": f"u{n}@example.com", "active": True}


def serve(listing: Callable[[dict[str, str]], tuple[int, dict[str, Any]]], spc: dict[str, Any]):
    """The service: its ServiceProviderConfig, and ``listing(query)`` for every listing."""

    def behave(h: Handler, method: str, raw: str) -> bool:
        path, query = urlsplit(raw).path, parse_qs(urlsplit(raw).query, keep_blank_values=True)
        if path == f"{ROOT}/ServiceProviderConfig":
            h.json(spc)
        elif path in (f"{ROOT}/ResourceTypes", f"{ROOT}/Schemas"):
            h.json({"totalResults": 0, "Resources": []}, 404)
        else:
            status, doc = listing({k: v[0] for k, v in query.items()})
            h.json(doc, status)
        return True

    return behave


def pages_of(users: list[dict[str, Any]], size: int, **extra: Any):
    """An honest cursor listing: cursor "c<n>" starts at item n."""

    def listing(q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if "startIndex" in q:
            return 501, {"status": "501", "detail": "Pagination by index is not supported"}
        start = int(q["cursor"][1:] or 0) if q.get("cursor") else 0
        doc: dict[str, Any] = {"totalResults": len(users), "Resources": users[start : start + size]}
        if start + size < len(users):
            doc["nextCursor"] = f"c{start + size}"
        return 200, {**doc, **extra}

    return listing


@pytest.fixture(scope="module")
def hostile():
    from scimctl.emulator.app import Emulator, EmulatorConfig
    from scimctl.emulator.directory import Directory
    from scimctl.emulator.seed import apply_seed
    from scimctl.emulator.server import BackgroundEmulator

    directory = Directory()
    apply_seed(BASE_SEED, directory)
    config = EmulatorConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with BackgroundEmulator(Emulator(directory, config)) as emu, Hostile(emu.url) as hostile:
        yield hostile


def list_users(hostile: Hostile, behaviour: Any) -> tuple[ScimClient, Any]:
    hostile.behaviour = behaviour
    hostile.seen.clear()
    target = resolve_target(provider="scim", base_url=hostile.url + ROOT)
    client = ScimClient.connect(target, BearerToken("t"), retry=RetryPolicy(deadline=2.0))
    client.page_size = 3
    try:
        return client, client.list_users()
    finally:
        client.close()
        hostile.behaviour = None


def test_a_cursor_only_service_is_read_by_cursor(hostile):
    users = [user(n) for n in range(10)]
    client, found = list_users(hostile, serve(pages_of(users, 3), CURSOR_ONLY))
    assert [u.id for u in found] == [u["id"] for u in users]
    asked = [raw for method, raw in hostile.seen if "/Users" in raw]
    assert len(asked) == 4 and all("cursor=" in raw and "startIndex" not in raw for raw in asked)
    assert not client.learned  # announced: nothing to learn


def test_a_refused_index_is_learned_once(hostile):
    users = [user(n) for n in range(7)]
    client, found = list_users(hostile, serve(pages_of(users, 3), {}))
    assert len(found) == 7
    (note,) = client.learned
    assert "refused paging by index" in note and "HTTP 501" in note, note
    assert "by cursor (RFC 9865)" in note


def repeat_cursor(q: dict[str, str]) -> tuple[int, dict[str, Any]]:
    # New items each time, but the cursor named goes back to one already followed.
    n = next(FRESH)
    return 200, {"Resources": [user(n)], "nextCursor": f"c{n % 3}"}


def endless(q: dict[str, str]) -> tuple[int, dict[str, Any]]:
    n = int(q["cursor"][1:] or 0) if q.get("cursor") else 0
    return 200, {"totalResults": 10**6 + 5, "Resources": [user(n)], "nextCursor": f"c{n + 1}"}


def same_page(q: dict[str, str]) -> tuple[int, dict[str, Any]]:
    n = int(q["cursor"][1:] or 0) if q.get("cursor") else 0
    return 200, {"Resources": [user(0), user(1)], "nextCursor": f"c{n + 1}"}


CASES = {
    "a nextCursor already followed": (repeat_cursor, "nextCursor names a page already read"),
    "an empty page naming a next cursor": (
        lambda q: (200, {"Resources": [], "nextCursor": "again"}),
        "a page with no items names a nextCursor",
    ),
    "the same items under new cursors": (same_page, "the page repeats items already read"),
    "a last page short of totalResults": (
        pages_of([user(n) for n in range(5)], 3, totalResults=9),
        "the last page (no nextCursor) leaves 5 of totalResults 9 read",
    ),
    "nextCursor a number": (
        lambda q: (200, {"Resources": [user(1)], "nextCursor": 7}),
        "nextCursor is an integer, not a string",
    ),
    "Resources an object": (
        lambda q: (200, {"Resources": {"id": "u1"}}),
        "Resources is an object, not a list",
    ),
    "totalResults 10^12": (
        lambda q: (200, {"totalResults": 10**12, "Resources": [user(1)], "nextCursor": "c"}),
        "totalResults 1000000000000 is implausible",
    ),
    "a cursor refused mid-listing": (
        lambda q: (
            (400, {"status": "400", "scimType": "invalidCursor", "detail": "gone"})
            if q.get("cursor")
            else (200, {"Resources": [user(1)], "nextCursor": "c1"})
        ),
        "HTTP 400 invalidCursor",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_cursor_listing_stops_in_one_line(hostile, case):
    listing, says = CASES[case]
    with pytest.raises(ScimctlError) as caught:
        list_users(hostile, serve(listing, CURSOR_ONLY))
    message = str(caught.value)
    assert "\n" not in message and says in message, message
    assert message.startswith("GET /Users"), message


@pytest.mark.parametrize("total", [5, None])
def test_cursors_that_never_end_stop(hostile, monkeypatch, total):
    """Each page adds new items and names a new cursor: the read stops past twice the
    stated total, or (with none stated) at the page bound, not at memory's end."""
    monkeypatch.setattr("scimctl.scim.paging.MAX_CURSOR_PAGES", 40)

    def endless(q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        n = int(q["cursor"][1:] or 0) if q.get("cursor") else 0
        items = [user(n * 50 + i) for i in range(50)]
        doc = {"Resources": items, "nextCursor": f"c{n + 1}", "totalResults": total}
        return 200, {k: v for k, v in doc.items() if v is not None}

    says = "1,050 items read where totalResults says 5" if total else "40 pages and still a"
    with pytest.raises(ScimctlError, match=says):
        list_users(hostile, serve(endless, CURSOR_ONLY))
