"""A broken or hostile service cannot hang scimctl, exhaust its memory or crash it.

Each case puts the suite's hostile server (tests/hostile.py) in front of the
emulator and has it misbehave one way: the rows of issue 26's table, and HTML,
malformed JSON, wrong types, huge values and bad ids. The read ends in one line
naming the request and what was wrong, within its deadline. Short limits keep the
cases fast: a 2 s retry deadline, answers of at most 1 MB.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import BASE_SEED, CLIENT_ID, CLIENT_SECRET
from hostile import Handler, Hostile

from scimctl.config import Credentials, resolve_target
from scimctl.errors import ScimctlError
from scimctl.scim.bounded import Bounds
from scimctl.scim.client import GenesysClient
from scimctl.scim.transport import RetryPolicy

USERS = "/api/v2/scim/v2/Users"

ROLES = "/api/v2/authorization/roles"

DIVISIONS = "/api/v2/authorization/divisions"

DELETED = "/api/v2/users"

TOKEN = "/oauth/token"

DEADLINE = 2.0

MB = 2**20


def on(path: str, act: Callable[[Handler], None]) -> Callable[[Handler, str, str], bool]:
    """Misbehave on requests to ``path`` (any query); pass the others through."""

    def behave(handler: Handler, method: str, raw: str) -> bool:
        if raw.split("?", 1)[0] != path:
            return False
        act(handler)
        return True

    return behave


def everywhere(act: Callable[[Handler], None]) -> Callable[[Handler, str, str], bool]:
    def behave(handler: Handler, method: str, raw: str) -> bool:
        act(handler)
        return True

    return behave


def page(resources: Any, total: Any = 1, **extra: Any) -> Callable[[Handler], None]:
    return lambda h: h.json({"totalResults": total, "Resources": resources, **extra})


def scim_user(uid: Any = "u1", name: Any = "a@example.com", **extra: Any) -> dict[str, Any]:
    return {"id": uid, "userName": name, "active": True, **extra}


def repeated_page(h: Handler) -> None:
    # The same page whatever startIndex is asked for, under a total of 10^12.
    h.json({"totalResults": 10**12, "Resources": [scim_user("u1"), scim_user("u2", "b@x")]})


def stuck_start(h: Handler) -> None:
    # New items on every page, but the answer says it is still at the start.
    start = int(h.path.split("startIndex=", 1)[1].split("&", 1)[0])
    h.json({
        "totalResults": 50, "startIndex": 1, "itemsPerPage": 1,
        "Resources": [scim_user(f"u{start}", f"u{start}@x")],
    })  # fmt: skip


def platform(total: Any, entities: Any, **extra: Any) -> Callable[[Handler], None]:
    return lambda h: h.json({"total": total, "entities": entities, "pageSize": 100, **extra})


def gzip_bomb(h: Handler) -> None:
    body = gzip.compress(b'{"Resources": [' + b" " * (20 * MB) + b"]}")
    h.answer(200, body, extra={"Content-Encoding": "gzip"})


# (behaviour, what the one-line error says, the read to run)
CASES: dict[str, tuple[Any, str, str]] = {
    "never answers (token too)": (everywhere(Handler.hang), "token", "snapshot"),
    "token with Content-Length 2 GiB": (
        on(TOKEN, lambda h: h.endless(2**31)),
        "the answer passed 1 MB; is api_url right?",
        "snapshot",
    ),
    "endless chunked listing": (
        on(USERS, Handler.endless),
        f"GET {USERS}: the answer passed 1 MB",
        "snapshot",
    ),
    "listing drips one byte a second": (
        on(USERS, Handler.drip),
        f"GET {USERS}: the answer did not arrive whole in time",
        "snapshot",
    ),
    "listing headers drip one byte a second": (
        on(USERS, Handler.header_drip),
        f"GET {USERS}: the answer did not arrive whole in time",
        "snapshot",
    ),
    "token headers drip one byte a second": (
        on(TOKEN, Handler.header_drip),
        "the answer did not arrive whole in time",
        "snapshot",
    ),
    "totalResults 10^12 and the same page": (
        on(USERS, repeated_page),
        "stopped paging: totalResults 1000000000000 is implausible",
        "snapshot",
    ),
    "the same page under a plausible total": (
        on(USERS, page([scim_user("u1"), scim_user("u2", "b@x")], total=900)),
        "stopped paging: the page repeats items already read",
        "snapshot",
    ),
    "startIndex stuck at 1": (
        on(USERS, stuck_start),
        "stopped paging: startIndex 2 was asked for and 1 answered",
        "snapshot",
    ),
    "Platform roles total 10^9": (
        on(ROLES, platform(10**9, [{"id": "r1", "name": "R"}])),
        f"GET {ROLES} page 1: stopped paging: total 1000000000 is implausible",
        "snapshot",
    ),
    "Platform roles repeat page 1": (
        on(ROLES, platform(1000, [{"id": "r1", "name": "R"}])),
        f"GET {ROLES} page 2: stopped paging: the page repeats",
        "snapshot",
    ),
    "HTML": (
        on(USERS, lambda h: h.answer(200, b"<html>login</html>", "text/html")),
        "answered with HTML, not JSON",
        "snapshot",
    ),
    "malformed JSON": (
        on(USERS, lambda h: h.answer(200, b'{"Resources": [')),
        "not a JSON object",
        "snapshot",
    ),
    "totalResults a string": (
        on(USERS, page([scim_user()], total="1")),
        f"GET {USERS} at startIndex 1: totalResults is a string, not a number",
        "snapshot",
    ),
    "Resources an object": (
        on(USERS, page({"id": "u1"})),
        f"GET {USERS} at startIndex 1: Resources is an object, not a list",
        "snapshot",
    ),
    "a resource that is a number": (
        on(USERS, page([7])),
        "Resources[0] is an integer, not an object",
        "snapshot",
    ),
    "100 kB userName": (
        on(USERS, page([scim_user(name="x" * 100_000)])),
        "userName is 100000 characters long",
        "snapshot",
    ),
    "userName a number": (
        on(USERS, page([scim_user(name=5)])),
        "userName is an integer, not a string",
        "snapshot",
    ),
    "id an object": (
        on(USERS, page([scim_user(uid={"a": 1})])),
        "(it is an object",
        "snapshot",
    ),
    "id an integer": (on(USERS, page([scim_user(uid=12)])), "(it is an integer", "snapshot"),
    "id with a newline": (
        on(USERS, page([scim_user(uid="a\nb")])),
        "user 'a@example.com' has a malformed id 'a\\nb' (it contains a control character)",
        "snapshot",
    ),
    "id steering to a group": (
        on(USERS, page([scim_user(uid="../Groups/g1")])),
        "(it contains a slash)",
        "snapshot",
    ),
    "group member id steering": (
        on(
            "/api/v2/scim/v2/Groups",
            page([{"id": "g1", "displayName": "G", "members": [{"value": "../Users/x"}]}]),
        ),
        "group 'G': a member has a malformed id '../Users/x'",
        "snapshot",
    ),  # fmt: skip
    "meta.version a list": (
        on(USERS, page([scim_user(meta={"version": [1]})])),
        "meta.version is a list, not a string",
        "snapshot",
    ),
    "division not an object": (
        on(DIVISIONS, platform(1, ["Home"])),
        "entities[0] is a string, not an object",
        "snapshot",
    ),
    "division id a number": (
        on(DIVISIONS, platform(1, [{"id": 5, "name": "Home"}])),
        "division 'Home' has a malformed id 5",
        "snapshot",
    ),
    "deleted user not an object": (
        on(DELETED, platform(1, [3])),
        "entities[0] is an integer, not an object",
        "deleted",
    ),
    "deleted user id steering": (
        on(DELETED, platform(1, [{"id": "../x", "email": "d@x", "version": 2}])),
        "deleted user 'd@x' has a malformed id",
        "deleted",
    ),
    "gzip bomb": (on(USERS, gzip_bomb), "the answer passed 1 MB", "snapshot"),
    "JSON nested 200 000 deep": (
        on(USERS, lambda h: h.answer(200, b"[" * 200_000 + b"]" * 200_000)),
        "a body that is not a JSON object",
        "snapshot",
    ),
    "an error of 100 kB over many lines, with escape codes": (
        on(USERS, lambda h: h.json({"detail": "x\n" * 50_000, "scimType": "\x1b[31m"}, 400)),
        f"GET {USERS}: HTTP 400 [31m: x x x",
        "snapshot",
    ),
    "ServiceProviderConfig filter a string": (
        on("/api/v2/scim/v2/ServiceProviderConfig", lambda h: h.json({"filter": "x"})),
        "",
        "discover",
    ),
}


def connect(target: Any, deadline: float, bounds: Bounds) -> GenesysClient:
    credentials = Credentials(CLIENT_ID, CLIENT_SECRET)
    return GenesysClient.connect(
        target, credentials, retry=RetryPolicy(deadline=deadline), bounds=bounds
    )


@pytest.fixture(scope="module")
def hostile_client():
    from scimctl.emulator.app import Emulator, EmulatorConfig
    from scimctl.emulator.directory import Directory
    from scimctl.emulator.seed import apply_seed
    from scimctl.emulator.server import BackgroundEmulator

    directory = Directory()
    apply_seed(BASE_SEED, directory)
    config = EmulatorConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with BackgroundEmulator(Emulator(directory, config)) as emu, Hostile(emu.url) as hostile:
        yield hostile


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_answer_ends_in_one_line_within_the_deadline(hostile_client, case):
    hostile = hostile_client
    behaviour, says, read = CASES[case]
    hostile.behaviour = behaviour
    target = resolve_target(api_url=hostile.url)
    bounds = Bounds(max_bytes=1 * MB, request_seconds=DEADLINE)
    started = time.monotonic()
    try:
        with connect(target, DEADLINE, bounds) as client:
            if read == "discover":  # read leniently: no traceback, RFC defaults
                assert client.discover().max_results is None
                return
            with pytest.raises(ScimctlError) as caught:
                client.snapshot() if read == "snapshot" else client.list_deleted_users()
    finally:
        hostile.behaviour = None
    took = time.monotonic() - started
    message = str(caught.value)
    assert "\n" not in message and says in message, message
    assert "\x1b" not in message and len(message) < 1000, message
    assert took < 4 * DEADLINE + 2, f"{case} took {took:.1f}s"


def test_the_command_timeout_stops_every_request(hostile_client):
    hostile = hostile_client
    hostile.behaviour = on(USERS, Handler.hang)
    target = resolve_target(api_url=hostile.url)
    bounds = Bounds.for_command(1.5, request_seconds=30)
    started = time.monotonic()
    try:
        with (
            connect(target, 30, bounds) as client,
            pytest.raises(ScimctlError, match="the command's --timeout of 1.5s has passed"),
        ):
            client.snapshot()
    finally:
        hostile.behaviour = None
    assert time.monotonic() - started < 5


def test_a_normal_gzip_answer_still_reads(hostile_client):
    """Bounded decoding is still decoding: a compressed page reads as before."""
    hostile = hostile_client
    doc = {"totalResults": 1, "Resources": [scim_user("u1", "z@example.com")]}
    body = gzip.compress(json.dumps(doc).encode())
    hostile.behaviour = on(USERS, lambda h: h.answer(200, body, extra={"Content-Encoding": "gzip"}))
    target = resolve_target(api_url=hostile.url)
    try:
        with GenesysClient.connect(target, Credentials(CLIENT_ID, CLIENT_SECRET)) as client:
            users = client.list_users()
    finally:
        hostile.behaviour = None
    assert [u.user_name for u in users] == ["z@example.com"]
