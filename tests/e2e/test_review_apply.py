"""apply runs the reviewed plan or nothing: the real CLI against the emulator.

Each attack edits a saved plan the way someone holding the file could: naively
(the digest catches it before any request), or re-sealing the digest (the
recomputation and the policy rules catch it). The account it targets must be
untouched, and nothing at all may be written.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import CLIENT_SECRET, SCIMCTL, Workspace, user

from scimctl.plan import integrity

BOSS = {"userName": "boss@example.com", "displayName": "Boss", "externalId": "HR-BOSS"}
KEY = "plan-key-Vx93-not-for-logs"


def manifest(*users: dict, **policy: str) -> dict:
    doc: dict = {"groups": [{"name": "Support"}], "users": list(users)}
    if policy:
        doc["policy"] = policy
    return doc


def writes(ws: Workspace) -> dict[str, int]:
    """Requests that change something, by route, as the emulator counted them."""
    routes = ws.emulator.emulator.counters.by_route
    return {k: v for k, v in routes.items() if not k.startswith(("GET ", "POST /oauth"))}


def edit(path: Path, change, reseal: bool) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    if reseal:
        doc = integrity.seal(doc)
    path.write_text(json.dumps(doc, indent=2))


def boss(ws: Workspace) -> dict:
    (found,) = ws.emulator.users('userName eq "boss@example.com"')
    return found


@pytest.fixture
def ws(seeded) -> Workspace:
    """Jane and Joe are managed; the boss's account is not scimctl's."""
    ws = seeded([BOSS])
    ws.write_manifest(manifest(user("E1", "jane@example.com"), user("E2", "joe@example.com")))
    applied = ws.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    return ws


def test_added_delete_of_an_unmanaged_account_is_refused_and_it_survives(ws):
    target = boss(ws)
    ws.write_manifest(
        manifest(user("E1", "jane@example.com", title="Lead"), user("E2", "joe@example.com"))
    )
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    before = writes(ws)
    requests = ws.emulator.emulator.counters.requests
    delete = {"kind": "delete", "resource": "user", "live_id": target["id"],
              "id": "delete:user:HR-BOSS", "key": "HR-BOSS"}  # fmt: skip
    plan = ws.path / "plan.json"
    edit(plan, lambda d: d["actions"].append(delete), reseal=False)

    naive = ws.run("apply", "plan.json")
    assert naive.returncode == 1
    assert "edited or damaged" in naive.stderr and "Traceback" not in naive.stderr
    assert ws.emulator.emulator.counters.requests == requests, "refused before any request"

    edit(plan, lambda d: None, reseal=True)
    resealed = ws.run("apply", "plan.json")
    assert resealed.returncode == 1
    assert f"delete user HR-BOSS (live id {target['id']}): the account is not one scimctl" in (
        resealed.stderr
    )
    assert "- delete:user:HR-BOSS" in resealed.stderr and "would not run now" in resealed.stderr
    assert writes(ws) == before, "nothing was written, not even the reviewed update"
    assert boss(ws) == target
    assert {u["title"] for u in ws.emulator.users() if u.get("title")} == set()


def test_changed_live_id_is_refused_before_any_write(ws):
    ws.write_manifest(
        manifest(user("E1", "jane@example.com", title="Lead"), user("E2", "joe@example.com"))
    )
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    joe = next(u for u in ws.emulator.users() if u["externalId"] == "E2")
    before = writes(ws)

    def retarget(doc: dict) -> None:
        (action,) = doc["actions"]
        action["live_id"] = joe["id"]

    edit(ws.path / "plan.json", retarget, reseal=True)
    result = ws.run("apply", "plan.json")
    assert result.returncode == 1
    assert "~ update:user:E1: differs in live_id" in result.stderr
    assert f'live_id: plan "{joe["id"]}"' in result.stderr
    assert writes(ws) == before
    assert next(u for u in ws.emulator.users() if u["externalId"] == "E2") == joe


def test_removed_action_is_refused(seeded):
    ws = seeded([])
    ws.write_manifest(manifest(user("E1", "jane@example.com"), user("E2", "joe@example.com")))
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    edit(
        ws.path / "plan.json",
        lambda d: d.update(actions=[a for a in d["actions"] if a["key"] != "E2"]),
        reseal=True,
    )
    result = ws.run("apply", "plan.json")
    assert result.returncode == 1
    assert "+ create:user:E2: would run now, but is not in the plan file" in result.stderr
    assert ws.emulator.users() == [] and writes(ws) == {}


def test_a_plan_that_no_longer_matches_is_refused_with_the_differences(ws):
    ws.write_manifest(
        manifest(user("E1", "jane@example.com", title="Lead"), user("E2", "joe@example.com"))
    )
    assert ws.run("plan", "--out", "reviewed.json").returncode == 0
    # Another change lands in the manifest before this plan is applied.
    ws.write_manifest(
        manifest(
            user("E1", "jane@example.com", title="Boss"),
            user("E2", "joe@example.com"),
            user("E3", "new@example.com"),
        )
    )
    before = writes(ws)
    result = ws.run("apply", "reviewed.json")
    assert result.returncode == 1
    err = result.stderr
    assert "~ manifest_digest: the manifest changed since the plan was made" in err
    assert "~ update:user:E1: differs in changes.title.after" in err
    assert 'plan "Lead", now "Boss"' in err
    assert "+ create:user:E3: would run now, but is not in the plan file" in err
    assert "run plan again" in err and writes(ws) == before
    # The way forward: plan again, review, apply.
    assert ws.run("plan", "--out", "again.json").returncode == 0
    assert ws.run("apply", "again.json").returncode == 0
    assert {u["userName"] for u in ws.emulator.users()} >= {"new@example.com"}


def test_a_change_made_in_genesys_since_the_plan_is_named(ws):
    ws.write_manifest(
        manifest(user("E1", "jane@example.com", title="Lead"), user("E2", "joe@example.com"))
    )
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    jane = next(u for u in ws.emulator.users() if u["externalId"] == "E1")
    with ws.emulator.http() as h:
        h.patch(
            f"/api/v2/scim/v2/Users/{jane['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "Intern"}],
            },
        ).raise_for_status()
    result = ws.run("apply", "plan.json")
    assert result.returncode == 1
    assert "~ update:user:E1: differs in changes.title.before, version" in result.stderr
    assert next(u for u in ws.emulator.users() if u["externalId"] == "E1")["title"] == "Intern"


def test_with_a_plan_key_unsigned_and_missigned_plans_are_refused(ws):
    ws.write_manifest(
        manifest(user("E1", "jane@example.com", title="Lead"), user("E2", "joe@example.com"))
    )
    assert ws.run("plan", "--out", "unsigned.json").returncode == 0
    assert ws.run("plan", "--out", "other.json", SCIMCTL_PLAN_KEY="another-key").returncode == 0
    signed = ws.run("plan", "--out", "signed.json", SCIMCTL_PLAN_KEY=KEY)
    assert signed.returncode == 0
    before = writes(ws)
    unsigned = ws.run("apply", "unsigned.json", SCIMCTL_PLAN_KEY=KEY)
    assert unsigned.returncode == 1 and "not signed" in unsigned.stderr
    other = ws.run("apply", "other.json", SCIMCTL_PLAN_KEY=KEY)
    assert other.returncode == 1 and "signature does not match" in other.stderr
    empty = ws.run("apply", "signed.json", SCIMCTL_PLAN_KEY="")
    assert empty.returncode == 1 and "SCIMCTL_PLAN_KEY is set but empty" in empty.stderr
    assert writes(ws) == before
    applied = ws.run("apply", "signed.json", SCIMCTL_PLAN_KEY=KEY)
    assert applied.returncode == 0, applied.stderr
    assert next(u for u in ws.emulator.users() if u["externalId"] == "E1")["title"] == "Lead"
    texts = [(ws.path / n).read_text() for n in ("signed.json", "other.json")]
    texts += [r.stdout + r.stderr for r in (signed, unsigned, other, empty, applied)]
    texts.append(dump(ws.state))
    for text in texts:
        assert KEY not in text and "another-key" not in text and CLIENT_SECRET not in text


def dump(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return "\n".join(repr(list(conn.execute(sa.text(f"SELECT * FROM {n}")))) for n in names)
    finally:
        engine.dispose()


def test_a_plan_for_another_target_is_refused_before_connecting(ws):
    assert ws.run("plan", "--out", "plan.json").returncode == 0

    def redirect(doc: dict) -> None:
        doc["target"] = {"provider": "genesys", "api_url": "http://127.0.0.1:9",
                         "login_url": "http://127.0.0.1:9"}  # fmt: skip
        doc["workspace"] = "genesys:http://127.0.0.1:9"

    edit(ws.path / "plan.json", redirect, reseal=True)
    requests = ws.emulator.emulator.counters.requests
    result = ws.run("apply", "plan.json")
    assert result.returncode == 1
    assert "the plan is for another target: api_url 'http://127.0.0.1:9' in the plan" in (
        result.stderr
    )
    assert ws.emulator.emulator.counters.requests == requests


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b'{"format_version": 2, "actions": [{"id"', "not a JSON plan"),
        (b'{"format_version": 2, "actions": []}', "no content digest"),
    ],
)
def test_bad_plan_files_are_one_line_errors(workspace, content, message):
    workspace.write_manifest(manifest())
    (workspace.path / "plan.json").write_bytes(content)
    result = workspace.run("apply", "plan.json")
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- state that cannot silently go missing -----------------------------------------


def run_without_state(ws: Workspace, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in ws.env(**env).items() if k not in ("SCIMCTL_STATE", "CI")}
    full.update(env)
    return subprocess.run(
        [SCIMCTL, *args], cwd=ws.path, env=full, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("command", [("plan",), ("apply", "--auto-approve")])
def test_empty_state_and_ci_without_state_are_errors_that_create_nothing(workspace, command):
    ws = workspace
    ws.write_manifest(manifest(user("E1", "jane@example.com")))
    cases = [
        ({"SCIMCTL_STATE": ""}, "SCIMCTL_STATE is set but empty"),
        ({"SCIMCTL_STATE": "", "CI": "true"}, "SCIMCTL_STATE is set but empty"),
        ({"CI": "true"}, "CI is set but no state was given: set SCIMCTL_STATE"),
    ]
    for env, message in cases:
        result = run_without_state(ws, *command, **env)
        assert result.returncode == 1, (env, result.stdout)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert not (ws.path / ".scimctl").exists()
    explicit = run_without_state(ws, *command, "--state", "")
    assert explicit.returncode == 1 and "--state is empty" in explicit.stderr
    assert ws.emulator.users() == [] and not (ws.path / ".scimctl").exists()
    # Outside CI the local default still works (and is where the file goes).
    local = run_without_state(ws, *command)
    assert local.returncode == 0, local.stderr
    assert (ws.path / ".scimctl" / "state.db").exists()


def test_new_state_facing_managed_looking_accounts_warns_everywhere(seeded):
    others = [
        {"userName": f"left{i}@example.com", "displayName": f"Left {i}", "externalId": f"HR-{i}"}
        for i in range(3)
    ]
    ws = seeded([*others, {"userName": "nokey@example.com", "displayName": "No Key"}])
    ws.write_manifest(manifest())
    warning = (
        "state is new: 3 accounts carry externalIds but are not in the manifest; if scimctl "
        "managed them, point --state at the existing state"
    )
    for fmt in ("text", "markdown", "json"):
        result = ws.run("plan", "--format", fmt, "--detailed-exitcode", "--out", "plan.json")
        assert result.returncode == 2, (fmt, result.stderr)
        assert warning in result.stdout, fmt
    assert json.loads((ws.path / "plan.json").read_text())["warnings"] == [warning]
    shown = ws.run("show", "plan.json")
    assert warning in shown.stdout
    # Once the state exists (something was applied), the warning goes away.
    ws.write_manifest(manifest(user("E1", "jane@example.com")))
    assert ws.run("apply", "--auto-approve").returncode == 0
    ws.write_manifest(manifest(user("E1", "jane@example.com")))
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0 and "state is new" not in again.stdout
