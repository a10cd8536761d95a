"""Audit history, tamper evidence, metrics and HRIS webhooks; secrets stay out of it all."""

from __future__ import annotations

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import CLIENT_SECRET, Workspace, user

from scimctl.records.hris import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

WEBHOOK_SECRET = "whsec-7f3a-test"


class Receiver:
    """An HR system's webhook endpoint on loopback; can be told to be down."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.requests.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/scimctl"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        out = []
        for headers, body in self.requests:
            assert verify(
                WEBHOOK_SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
            )
            out.extend(json.loads(body)["events"])
        return out


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def manifest(receiver: Receiver | None, n: int = 6, **policy: str) -> dict:
    doc: dict[str, Any] = {
        "groups": [{"name": "Support"}],
        "users": [user(f"E{i}", f"p{i}@example.com", groups=["Support"]) for i in range(n)],
    }
    if receiver:
        doc["hris"] = {"webhook_url": receiver.url}
    if policy:
        doc["policy"] = policy
    return doc


def db_row(engine: sa.Engine, op_id: int) -> dict:
    with engine.connect() as conn:
        query = sa.text("SELECT * FROM operations WHERE id = :i")
        return dict(conn.execute(query, {"i": op_id}).mappings().one())


def dump_database(url: str) -> str:
    """Every value in every table, as text."""
    engine = sa.create_engine(url)
    out = []
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                out.append(f"{table}: {tuple(row)!r}")
    engine.dispose()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:
            out.extend(conn.iterdump())
        for file in path.parent.glob(path.name + "*"):
            out.append(file.read_bytes().decode("latin-1"))
    return "\n".join(out)


def test_history_and_metrics_match_what_the_emulator_saw(start_emulator, tmp_path, state_url):
    emu = start_emulator(error_rate=0.15, reset_rate=0.1, random_seed=5)
    ws = Workspace(tmp_path, emu, state_url)
    ws.write_manifest(manifest(None, n=12))
    env: dict[str, Any] = {
        "GITHUB_SHA": "c0ffee1234",
        "GITHUB_REPOSITORY": "acme/people",
        "GITHUB_ACTOR": "dana",
    }
    assert ws.run("plan", "--out", "plan.json", **env).returncode == 0
    counters = emu.emulator.counters
    before = (counters.requests, counters.injected_errors, counters.injected_resets)
    result = ws.run("apply", "plan.json", **env)
    assert result.returncode == 0, result.stderr
    seen = (counters.requests - before[0], counters.injected_errors - before[1])
    resets = counters.injected_resets - before[2]
    assert seen[1] + resets > 0, "the test needs injected faults"

    doc = json.loads(ws.run("metrics", "--format", "json").stdout)
    m = doc[0]["metrics"]
    assert m["requests_total"] == seen[0]
    assert m["http_5xx_total"] == seen[1]
    assert m["network_errors_total"] == resets
    assert m["operations{action=create,outcome=ok}"] == 12
    assert m["operations{action=add_members,outcome=ok}"] == 1
    assert m["latency_ms_p50"] <= m["latency_ms_p95"] <= m["latency_ms_p99"] <= m["latency_ms_max"]

    run = json.loads(ws.run("history", "show", doc[0]["run_id"][:8], "--format", "json").stdout)
    assert run["kind"] == "apply" and run["outcome"] == "succeeded" and run["actor"] == "dana"
    assert run["ci"]["commit"] == "c0ffee1234"
    # Every request is an operation's attempt, or a read that re-verified the plan.
    verified = run["summary"]["verification_requests"]
    assert verified >= 4 and sum(op["attempts"] for op in run["operations"]) + verified == seen[0]
    assert len(run["operations"]) == 13

    mine = json.loads(ws.run("history", "--user", "P3@example.com", "--format", "json").stdout)
    assert [(r["action"], r["outcome"], r["method"]) for r in mine] == [
        ("add_members", "ok", "PATCH"),  # the membership that gave them the group
        ("create", "ok", "POST"),
    ]
    clean = [op for op in run["operations"] if op["attempts"] == 1]
    assert clean and all(op["status"] == (201 if op["method"] == "POST" else 200) for op in clean)
    by_key = json.loads(ws.run("history", "--user", "E3", "--format", "json").stdout)
    assert by_key == mine
    table = ws.run("history", "--since", "2020-01-01")
    assert "p3@example.com" in table.stdout and "c0ffee1234" in table.stdout
    assert json.loads(ws.run("history", "--since", "2999-01-01", "--format", "json").stdout) == []

    prom = ws.run("metrics", "--format", "prometheus").stdout
    label = f'workspace="genesys:{emu.url}"'
    assert "# TYPE scimctl_http_requests_total counter" in prom
    assert f"scimctl_http_requests_total{{{label}}} {float(seen[0])}" in prom
    assert f'scimctl_operations_total{{action="create",outcome="ok",{label}}} 12.0' in prom
    assert doc[0]["run_id"] not in prom and "run_id" not in prom


def test_tampering_is_found_by_history_verify(workspace):
    ws = workspace
    ws.write_manifest(manifest(None, n=4))
    assert ws.run("apply", "--auto-approve").returncode == 0
    ws.write_manifest(manifest(None, n=3, max_deprovision="1"))
    assert ws.run("apply", "--auto-approve").returncode == 0
    ok = ws.run("history", "verify")
    assert ok.returncode == 0 and "The chain is whole" in ok.stdout
    engine = sa.create_engine(ws.state)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM operations ORDER BY id"))]
    original = db_row(engine, ids[3])["status"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE operations SET status = 299 WHERE id = :i"), {"i": ids[3]})
    edited = ws.run("history", "verify")
    assert edited.returncode == 1
    assert f"operation {ids[3]} " in edited.stderr
    assert "operations.status edited after it was written" in edited.stderr
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE operations SET status = :s WHERE id = :i"), {"s": original, "i": ids[3]}
        )
    assert ws.run("history", "verify").returncode == 0
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM operations WHERE id = :i"), {"i": ids[5]})
    engine.dispose()
    removed = ws.run("history", "verify")
    assert removed.returncode == 1
    assert f"operation {ids[6]} " in removed.stderr
    assert "1 journal entry was removed before it" in removed.stderr


def test_events_survive_a_receiver_that_is_down(workspace, receiver):
    ws = workspace
    ws.write_manifest(manifest(receiver))
    receiver.down = True
    env = {"SCIMCTL_WEBHOOK_SECRET": WEBHOOK_SECRET}
    applied = ws.run("apply", "--auto-approve", **env)
    assert applied.returncode == 0, applied.stderr
    assert "6 pending" in applied.stderr and "scimctl hris deliver" in applied.stderr
    assert receiver.requests == []
    assert ws.run("hris", "deliver", **env).returncode == 1  # still down: nothing lost
    receiver.down = False
    delivered = ws.run("hris", "deliver", **env)
    assert delivered.returncode == 0, delivered.stderr
    assert "6 events delivered, 0 pending" in delivered.stdout
    events = receiver.events()
    assert sorted(e["externalId"] for e in events) == [f"E{i}" for i in range(6)]
    assert len({e["event_id"] for e in events}) == 6
    assert {e["action"] for e in events} == {"create"}
    assert all(e["id"] and e["userName"] and e["run_id"] for e in events)
    again = ws.run("hris", "deliver", **env)
    assert "0 events delivered, 0 pending" in again.stdout
    assert len(receiver.events()) == 6

    ws.write_manifest(manifest(receiver, n=5, max_deprovision="1"))
    assert ws.run("apply", "--auto-approve", **env).returncode == 0
    last = receiver.events()[-1]
    assert (last["externalId"], last["action"]) == ("E5", "deactivate")


def test_webhook_needs_a_signing_secret(workspace, receiver):
    ws = workspace
    ws.write_manifest(manifest(receiver))
    result = ws.run("apply", "--auto-approve")
    assert result.returncode == 1 and "SCIMCTL_WEBHOOK_SECRET" in result.stderr
    assert ws.emulator.users() == []


def test_generated_passwords_reach_only_the_webhook(workspace, receiver):
    ws = workspace
    ws.write_manifest(manifest(receiver, n=3, password="generate"))
    env = {"SCIMCTL_WEBHOOK_SECRET": WEBHOOK_SECRET}
    planned = ws.run("plan", "--out", "plan.json", **env)
    applied = ws.run("apply", "plan.json", **env)
    assert applied.returncode == 0, applied.stderr
    events = receiver.events()
    passwords = [e["password"] for e in events if e.get("type") == "temporary_password"]
    assert len(passwords) == 3 and all(len(p) >= 16 for p in passwords)
    assert len(set(passwords)) == 3
    created = [e for e in events if e.get("action") == "create"]
    assert len(created) == 3 and not any("password" in e for e in created)

    # The receiver is down for the next new account: no password anywhere, reset flagged.
    receiver.down = True
    ws.write_manifest(manifest(receiver, n=4, password="generate"))
    later = ws.run("apply", "--auto-approve", **env)
    assert later.returncode == 0
    outbox = dump_database(ws.state)
    assert "password_reset_required" in outbox

    texts = [
        dump_database(ws.state),
        (ws.path / "plan.json").read_text(),
        *(r.stdout + r.stderr for r in (planned, applied, later)),
        ws.run("history", "--format", "json").stdout,
        ws.run("metrics", "--last", "5", "--format", "json").stdout,
    ]
    secrets = [*passwords, CLIENT_SECRET, WEBHOOK_SECRET, *ws.emulator.emulator.tokens]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_client_secret_and_tokens_never_reach_database_plan_or_output(workspace):
    ws = workspace
    ws.write_manifest(manifest(None))
    outputs = [ws.run("plan", "--out", "plan.json"), ws.run("apply", "plan.json")]
    outputs.append(ws.run("plan", GENESYS_CLIENT_SECRET="wrong-secret-value"))
    texts = [dump_database(ws.state), (ws.path / "plan.json").read_text()]
    texts += [r.stdout + r.stderr for r in outputs]
    tokens = list(ws.emulator.emulator.tokens)
    assert tokens
    for text in texts:
        for secret in (CLIENT_SECRET, "wrong-secret-value", *tokens):
            assert secret not in text
