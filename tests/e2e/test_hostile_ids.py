"""Ids from the service are data, never path.

The reproduction from issue 26: a listing answers a user whose ``id`` is
``../Groups/<a group's id>`` (with the group's version), and adopting that user sent
``PATCH .../Users/../Groups/<id>``, which arrives as a PATCH of the group.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import yaml
from conftest import BASE_SEED, CLIENT_ID, CLIENT_SECRET, Workspace, user
from hostile import Hostile

from scimctl.config import Credentials, resolve_target
from scimctl.plan import integrity
from scimctl.scim.client import GenesysClient
from scimctl.scim.transport import ApiError

USERS = "/api/v2/scim/v2/Users"

GROUPS = "/api/v2/scim/v2/Groups"

BAD_IDS = ["../Groups/g1", "a/b", "..", ".", "a\\b", "a\nb", "a\x00b", "a\u2028b", ""]

# Legal in an id, dangerous in a URL: sent percent-encoded, as one segment.
ODD_IDS = ["x%2F..%2FGroups", "x?y=1", "x#y", "50%", "caf\u00e9 1"]


def write_manifest(ws: Workspace, url: str, users: list[dict]) -> None:
    doc = {"version": 1, "target": {"api_url": url}, "users": users}
    (ws.path / "scimctl.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def steer_to_group(emu):
    """A rewrite giving jane the id and version of the Support group."""
    group = emu.group("Support")

    def rewrite(method, path, doc):
        for r in doc.get("Resources") or [] if isinstance(doc, dict) else []:
            if r.get("userName") == "jane@example.com":
                r["id"] = f"../Groups/{group['id']}"
                r["meta"] = {**(r.get("meta") or {}), "version": group["meta"]["version"]}
        return doc

    return rewrite


def test_an_id_that_would_steer_a_write_stops_plan_with_one_line(seeded):
    ws = seeded([{"userName": "jane@example.com", "displayName": "Jane"}])
    with Hostile(ws.emulator.url) as hostile:
        hostile.rewrite = steer_to_group(ws.emulator)
        write_manifest(ws, hostile.url, [user("E1", "jane@example.com", displayName="Renamed")])
        for command in (["plan"], ["import", "--out", "imported.yaml"], ["drift"]):
            result = ws.run(*command)
            assert result.returncode == 1, (command, result.stdout, result.stderr)
            err = result.stderr.strip()
            assert "Traceback" not in err
            assert "user 'jane@example.com' has a malformed id '../Groups/" in err, command
            assert "contains a slash" in err
        assert hostile.writes() == []
    assert ws.emulator.group("Support")["displayName"] == "Support"


@pytest.fixture(scope="module")
def shared_client():
    """One emulator, hostile server and client for the many small cases below."""
    from scimctl.emulator.app import Emulator, EmulatorConfig
    from scimctl.emulator.directory import Directory
    from scimctl.emulator.seed import apply_seed
    from scimctl.emulator.server import BackgroundEmulator

    directory = Directory()
    apply_seed(BASE_SEED, directory)
    config = EmulatorConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with BackgroundEmulator(Emulator(directory, config)) as emu, Hostile(emu.url) as hostile:
        target = resolve_target(api_url=hostile.url)
        with GenesysClient.connect(target, Credentials(CLIENT_ID, CLIENT_SECRET)) as client:
            yield client, hostile


@pytest.fixture
def client_via(shared_client):
    client, hostile = shared_client
    with hostile.lock:
        hostile.seen.clear()
    hostile.rewrite = None
    return client, hostile


WRITES = {
    "update": lambda c, i: c.patch_user(i, {"schemas": [], "Operations": []}, '"1"'),
    "deactivate": lambda c, i: c.patch_user(i, {"schemas": [], "Operations": []}, None),
    "delete": lambda c, i: c.delete_user(i, '"1"'),
    "group patch": lambda c, i: c.patch_group(i, {"schemas": [], "Operations": []}, '"1"'),
    "restore (Platform)": lambda c, i: c.restore_user(i, 3),
    "read by id": lambda c, i: c.get_user(i),
    "group read": lambda c, i: c.get_group(i),
}


@pytest.mark.parametrize("bad", BAD_IDS, ids=ascii)
@pytest.mark.parametrize("write", list(WRITES))
def test_no_write_is_sent_for_a_malformed_id(client_via, write, bad):
    client, hostile = client_via
    with pytest.raises(ApiError, match="refusing a request to .*: the id "):
        WRITES[write](client, bad)
    assert [p for _, p in hostile.seen if "oauth" not in p] == []


@pytest.mark.parametrize("odd", ODD_IDS, ids=ascii)
@pytest.mark.parametrize("write", list(WRITES))
def test_odd_ids_are_sent_as_one_encoded_segment(client_via, write, odd):
    client, hostile = client_via
    try:
        WRITES[write](client, odd)
    except ApiError as exc:
        assert exc.status == 404  # the emulator knows no such id: it got the whole id
    sent = [p for _, p in hostile.seen if "oauth" not in p]
    assert sent, "nothing was sent"
    path = sent[0].split("?", 1)[0]
    assert path.endswith("/" + quote(odd, safe="")), path
    assert path.rsplit("/", 1)[0] in (USERS, GROUPS, "/api/v2/users")


def test_create_answer_with_a_malformed_id_is_refused_naming_the_user(client_via):
    client, hostile = client_via

    def rewrite(method, path, doc):
        if method == "POST" and path == USERS:
            doc["id"] = "../Groups/x"
        return doc

    hostile.rewrite = rewrite
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "n@example.com",
        "displayName": "N",
        "externalId": "N1",
    }
    with pytest.raises(ApiError) as caught:
        client.create_user(body)
    assert str(caught.value).startswith(f"POST {USERS}: user 'n@example.com' has a malformed id")


@pytest.mark.parametrize("field", ["live_id", "member id", "group id"])
def test_apply_refuses_a_plan_file_whose_id_would_not_pass(seeded, field):
    ws = seeded([{"userName": "jane@example.com", "displayName": "Jane"}])
    write_manifest(
        ws,
        ws.emulator.url,
        [user("E1", "jane@example.com", displayName="Renamed"), user("E2", "amir@example.com")],
    )
    doc = yaml.safe_load((ws.path / "scimctl.yaml").read_text())
    doc["groups"] = [{"name": "Support"}]
    doc["users"][0]["groups"] = ["Support"]
    (ws.path / "scimctl.yaml").write_text(yaml.safe_dump(doc))
    planned = ws.run("plan", "--out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    raw = json.loads((ws.path / "plan.json").read_text())
    body = {k: v for k, v in raw.items() if k not in integrity.SEAL_FIELDS}
    if field == "live_id":
        adopt = next(a for a in body["actions"] if a.get("live_id"))
        adopt["live_id"] = "../Groups/" + ws.emulator.group("Support")["id"]
        where = "live_id"
    elif field == "member id":
        patch = next(a for a in body["actions"] if a["resource"] == "group")
        patch["members"][0]["id"] = "x\ny"
        where = "members.0.id"
    else:
        body["memberships"]["Support"]["id"] = ".."
        where = "memberships.Support.id"
    (ws.path / "plan.json").write_text(json.dumps(integrity.seal(body)))
    applied = ws.run("apply", "plan.json")
    assert applied.returncode == 1, applied.stdout
    err = applied.stderr.strip()
    assert "Traceback" not in err and where in err and "malformed id" in err, err
    assert ws.emulator.group("Support")["displayName"] == "Support"
