"""A pool of tokens under one org ceiling, and the cost a plan states (issue 21).

Run through the real CLI against the emulator: which tokens the requests used and how
many were refused is what the emulator saw, not what scimctl says about itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import yaml
from conftest import BASE_SEED, CLIENT_ID, CLIENT_SECRET, Workspace, user


def manifest(n: int, **target: Any) -> dict[str, Any]:
    return {
        "groups": [{"name": "Support"}],
        "users": [
            user(f"E{i:03}", f"user{i:03}@example.com", groups=["Support"]) for i in range(n)
        ],
        "_target": target,
    }


def write(ws: Workspace, doc: dict[str, Any]) -> None:
    target = doc.pop("_target", {})
    path = ws.write_manifest(doc)
    data = yaml.safe_load(path.read_text())
    data["target"].update(target)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_plan_states_its_cost_and_apply_spends_about_that(start_emulator, tmp_path, sqlite_url):
    emu = start_emulator(BASE_SEED)
    ws = Workspace(tmp_path, emu, sqlite_url)
    write(ws, manifest(30, tokens=2))
    text = ws.run("plan")
    assert text.returncode == 0, text.stderr
    line = re.search(
        r"Cost: about (\d+) requests, ~(\d+) s at 600 requests/min \(2 tokens\)\.", text.stdout
    )
    assert line, text.stdout
    # --tokens wins over target.tokens; markdown carries the same line, JSON the numbers.
    md = ws.run("plan", "--tokens", "5", "--format", "markdown")
    assert "Cost: about" in md.stdout and "1,500 requests/min (5 tokens)" in md.stdout, md.stdout
    doc = json.loads(ws.run("plan", "--format", "json").stdout)
    cost = doc["cost"]
    assert cost["tokens"] == 2 and cost["per_minute"] == 600
    assert cost["requests"] == cost["writes"] + cost["reads"] == int(line.group(1))
    assert cost["writes"] == 31  # 30 creates and one membership batch
    before = emu.emulator.counters.requests
    applied = ws.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    spent = emu.emulator.counters.requests - before
    # apply plans (a read), re-reads under its lock (the estimate's reads), then writes
    assert abs((spent - cost["reads"]) - cost["requests"]) <= 0.15 * cost["requests"], (
        spent,
        cost,
    )
    assert "Cost: about" in applied.stdout  # shown before anything is written


def test_requests_spread_over_the_pool_and_the_ceiling_keeps_429s_away(
    start_emulator, tmp_path, sqlite_url
):
    # Per token 20 requests per 2 s window; the org allows 40 per window in all. The
    # ceiling (1,080/min = 36 per 2 s) keeps four tokens under the org's limit.
    emu = start_emulator(BASE_SEED, rate_limit=20, org_rate_limit=40, rate_window=2)
    ws = Workspace(tmp_path, emu, sqlite_url)
    write(ws, manifest(60, tokens=4, max_rate="1080/min"))
    result = ws.run("apply", "--auto-approve", "--parallelism", "8", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert emu.emulator.counters.throttled == 0, result.stdout
    # two connections (the plan shown before asking, then the apply), four tokens each
    assert len(emu.emulator.windows) == 8, "every token of the pool should have been used"
    assert len(emu.users("active eq true")) == 60
    assert "requests/min" in result.stderr  # the progress shows the live rate


def test_without_the_ceiling_the_org_limit_answers_429_with_retry_after(start_emulator):
    emu = start_emulator(BASE_SEED, rate_limit=100, org_rate_limit=3, rate_window=30)
    tokens = []
    for _ in range(2):
        resp = httpx.post(
            f"{emu.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        tokens.append(resp.json()["access_token"])
    statuses = []
    for i in range(5):
        resp = httpx.get(
            f"{emu.url}/api/v2/scim/v2/Users",
            headers={"Authorization": f"Bearer {tokens[i % 2]}"},
            timeout=10,
        )
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            assert 1 <= int(resp.headers["Retry-After"]) <= 30
            # the headers still describe the token's own window, as Genesys's do
            assert resp.headers["inin-ratelimit-allowed"] == "100"
    assert statuses == [200, 200, 200, 429, 429]


def test_tokens_out_of_range_name_the_line(start_emulator, tmp_path, sqlite_url):
    ws = Workspace(tmp_path, start_emulator(BASE_SEED), sqlite_url)
    for target, expected in (
        ({"tokens": 51}, "tokens"),
        ({"tokens": 0}, "tokens"),
        ({"max_rate": "fast"}, "max_rate"),
    ):
        write(ws, manifest(1, **target))
        result = ws.run("validate")
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert re.search(rf"scimctl.yaml:\d+: target.{expected}", result.stderr), result.stderr
    assert ws.run("plan", "--tokens", "51").returncode == 64  # a usage error


def test_tokens_spread_over_more_clients_named_by_variables(start_emulator, tmp_path, sqlite_url):
    second = "second-secret-Zq8#never-in-files"
    emu = start_emulator(BASE_SEED, rate_limit=1000, more_clients={"second-client": second})
    ws = Workspace(tmp_path, emu, sqlite_url)
    clients = [{"id": "SECOND_ID", "secret": "SECOND_SECRET"}]
    write(ws, manifest(3, tokens=4, clients=clients))
    missing = ws.run("plan")
    assert missing.returncode != 0
    assert "target.clients: set SECOND_ID and SECOND_SECRET" in missing.stderr, missing.stderr
    result = ws.run("plan", "--out", "plan.json", SECOND_ID="second-client", SECOND_SECRET=second)
    assert result.returncode == 0, result.stderr
    used = {emu.emulator.token_clients[t] for t in emu.emulator.windows}
    assert used == {CLIENT_ID, "second-client"}
    saved = (tmp_path / "plan.json").read_text()
    assert second not in saved and second not in result.stdout + result.stderr
    assert "(4 tokens)" in result.stdout


def test_a_secret_pasted_into_clients_is_refused(start_emulator, tmp_path, sqlite_url):
    ws = Workspace(tmp_path, start_emulator(BASE_SEED), sqlite_url)
    write(ws, manifest(1, tokens=2, clients=[{"id": "SECOND_ID", "secret": "ab-12/x+y=="}]))
    result = ws.run("validate")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert re.search(r"scimctl.yaml:\d+: target.clients\[0\].secret", result.stderr), result.stderr
    assert "name the environment variable" in result.stderr
    assert "ab-12/x+y==" not in result.stderr
