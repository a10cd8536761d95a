"""The quickstart flow, run by the real CLI against any directory a test brings.

A directory is reached twice: by scimctl through its manifest target, and by the
test through a small ``Live`` adapter (users by externalId, group members, an edit
made behind scimctl's back). Every apply must converge in one run: the plan after
it has to show no changes.

The CLI runs in-process (click's runner, the workspace as working directory, the
environment replaced for the call): the same commands over loopback HTTP and a real
SQLite file, without paying a Python start and every import some twenty times per
flow. The subprocess path stays covered by the other end-to-end tests.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

import yaml
from click.testing import CliRunner
from conftest import Running, Workspace, user

from scimctl.cli import main
from scimctl.cli.log import LOGGER

GROUPS = [
    {"name": "Support"},
    {"name": "Support Tier1", "parent": "Support"},
    {"name": "Sales"},
]


class Live(Protocol):
    def users(self) -> dict[str, dict[str, Any]]: ...
    def members(self, group: str) -> set[str]: ...
    def set_title(self, external_id: str, title: str) -> None: ...


class EmulatorLive:
    """The emulator seen from the test, keyed like scim2-server's adapter."""

    def __init__(self, emu: Running) -> None:
        self.emu = emu

    def users(self) -> dict[str, dict[str, Any]]:
        """Active and inactive users, paging however small the emulator's pages are."""
        out: dict[str, dict[str, Any]] = {}
        with self.emu.http() as h:
            for flt in (None, "active eq false"):
                start = 1
                while True:
                    params: dict[str, Any] = {"startIndex": start, "count": 1000}
                    params["excludedAttributes"] = "groups"
                    if flt:
                        params["filter"] = flt
                    page = h.get("/api/v2/scim/v2/Users", params=params).json()
                    for u in page["Resources"]:
                        out[u.get("externalId") or u["id"]] = u
                    start += len(page["Resources"])
                    if not page["Resources"] or start > page["totalResults"]:
                        break
        return out

    def members(self, group: str) -> set[str]:
        by_id = {u["id"]: k for k, u in self.users().items()}
        return {by_id[m["value"]] for m in self.emu.group(group)["members"]}

    def set_title(self, external_id: str, title: str) -> None:
        uid = self.users()[external_id]["id"]
        op = {"op": "replace", "path": "title", "value": title}
        with self.emu.http() as h:
            h.patch(
                f"/api/v2/scim/v2/Users/{uid}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [op],
                },
            ).raise_for_status()


def _forget_debug_logging() -> None:
    """--debug adds a stderr handler to the process; a subprocess would take it along
    when it ends, so the in-process runner removes it after each call."""
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, "_scimctl", False)]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


class InProcess:
    """Mixin: ``run`` invokes ``scimctl`` in this process, returning what subprocess would."""

    path: Path

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        wanted = self.env(**env)  # type: ignore[attr-defined]  # from Workspace
        patch: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
        patch.update(wanted)
        patch.setdefault("NO_COLOR", None)  # --no-color sets it; restored after the call
        here = os.getcwd()
        os.chdir(self.path)
        try:
            result = CliRunner(env=patch).invoke(main, list(args))
        finally:
            os.chdir(here)
            _forget_debug_logging()
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, stderr)


class EmulatorWorkspace(InProcess, Workspace):
    pass


class TargetWorkspace(InProcess, Workspace):
    """A workspace whose manifest names any target and whose env carries its credentials."""

    def __init__(self, path: Path, target: dict[str, Any], creds: dict[str, str], state: str):
        self.path = path
        self.target = target
        self.creds = creds
        self.state = state

    def write_manifest(self, doc: dict[str, Any], name: str = "scimctl.yaml") -> Path:
        path = self.path / name
        path.write_text(
            yaml.safe_dump({"version": 1, "target": self.target, **doc}, sort_keys=False)
        )
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = super().env(**extra)
        for key in [k for k in env if k.startswith(("GENESYS_", "SCIM_"))]:
            if key not in extra:
                del env[key]
        env.update(self.creds)
        env.update(extra)
        return env


def manifest(users: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "defaults": {"roles": ["Employee"], "division": "Home"},
        "policy": {"max_deprovision": "50%"},
        "groups": GROUPS,
        "users": users,
    }


def people(title_e1: str = "Agent", with_e3: bool = True, e2_groups: tuple = ("Sales",)) -> list:
    out = [
        user(
            "E1",
            "jane@example.com",
            title=title_e1,
            department="Support",
            roles=["Employee", "Agent"],
            phoneNumbers=[{"type": "work", "value": "+12125550101"}],
            groups=["Support Tier1"],
        ),
        user("E2", "amir@example.com", department="Sales", groups=list(e2_groups)),
        user("E4", "li@example.com", groups=["Support"]),
    ]
    if with_e3:
        out.append(user("E3", "ola@example.com", title="Agent", groups=["Support Tier1"]))
    return out


def ok(ws: Workspace, *args: str) -> str:
    result = ws.run(*args)
    assert result.returncode == 0, f"scimctl {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def converged(ws: Workspace) -> None:
    """The apply just run needed no second run."""
    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, (
        "apply did not converge in one run:\n" + again.stdout + again.stderr
    )


def apply_once(ws: Workspace) -> str:
    planned = ws.run("plan", "--out", "plan.json", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    out = ok(ws, "apply", "plan.json")
    done = re.search(r"([\d,]+) of ([\d,]+) operations? succeeded", out)
    assert done and done[1] == done[2], out
    converged(ws)
    return planned.stdout


def quickstart(ws: Workspace, live: Live, lose: list[str], conflict: int = 412) -> None:
    """validate, plan, apply, no changes, edits, deprovision, reactivation, a conflict,
    lost replies. ``lose`` is the server's list of methods whose next reply to lose."""
    ws.write_manifest(manifest(people()))
    assert "Valid: 4 users, 3 groups" in ok(ws, "validate")
    apply_once(ws)
    users = live.users()
    assert sorted(users) == ["E1", "E2", "E3", "E4"]
    assert users["E1"]["title"] == "Agent"
    assert sorted(r["value"] for r in users["E1"]["roles"]) == ["Agent", "Employee"]
    assert live.members("Support Tier1") == {"E1", "E3"}
    assert live.members("Support") == {"E1", "E3", "E4"}
    assert live.members("Sales") == {"E2"}
    edits_deprovision_reactivation(ws, live)
    conflict_and_lost_replies(ws, live, lose, conflict)


def edits_deprovision_reactivation(ws: Workspace, live: Live) -> None:
    # Edits: an attribute and a membership; E3 leaves (deactivated, memberships removed).
    ws.write_manifest(manifest(people("Team Lead", with_e3=False, e2_groups=("Sales", "Support"))))
    planned = apply_once(ws)
    assert "deactivate" in planned
    users = live.users()
    assert users["E1"]["title"] == "Team Lead"
    assert users["E3"]["active"] is False
    assert live.members("Support Tier1") == {"E1"}
    assert live.members("Support") == {"E1", "E2", "E4"}

    # E3 comes back: reactivated, not re-created, and back in the group.
    ws.write_manifest(manifest(people("Team Lead", e2_groups=("Sales", "Support"))))
    planned = apply_once(ws)
    assert "reactivate" in planned
    users = live.users()
    assert users["E3"]["active"] is True and len(users) == 4
    assert live.members("Support Tier1") == {"E1", "E3"}


def conflict_and_lost_replies(ws: Workspace, live: Live, lose: list[str], conflict: int) -> None:
    # Someone edits E1 between plan and apply: apply's recomputation sees it and the
    # whole plan is refused before any write (If-Match stays the guard for an edit that
    # lands after the recomputation; lost_replies below meets the conflict answer).
    ws.write_manifest(manifest(people("Lead", e2_groups=("Sales", "Support"))))
    assert ws.run("plan", "--out", "plan.json").returncode == 0
    before = live.members("Support")
    live.set_title("E1", "Boss")
    refused = ws.run("apply", "plan.json")
    assert refused.returncode == 1
    assert "not what would run now" in refused.stderr, refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert live.members("Support") == before  # E2's new membership was not written either
    assert "Traceback" not in refused.stderr
    assert live.users()["E1"]["title"] == "Boss"
    ok(ws, "apply", "--auto-approve")
    converged(ws)
    assert live.users()["E1"]["title"] == "Lead"
    lost_replies(ws, lose, live, conflict)


def many(ws: Workspace, live: Live, n: int = 205) -> None:
    """n users through capped pages: one apply, then no changes, nobody twice."""
    users = [user(f"P{i:03}", f"p{i:03}@example.com", groups=["Sales"]) for i in range(n)]
    ws.write_manifest(manifest(users))
    apply_once(ws)
    found = live.users()
    assert len(found) == n
    names = Counter(u["userName"] for u in found.values())
    assert max(names.values()) == 1
    assert len(live.members("Sales")) == n


def recovered_statuses(ws: Workspace) -> list[int]:
    """HTTP statuses of the write operations journaled as succeeded."""
    result = ws.run("history", "--format", "json", "--limit", "1000")
    assert result.returncode == 0, result.stderr
    return [r["status"] for r in json.loads(result.stdout) if r["outcome"] == "ok"]


def lost_replies(ws: Workspace, lose: list[str], live: Live, conflict: int) -> None:
    """A PATCH lands, its reply is lost, the retry meets 412 (or Genesys's 400
    invalidVers): the operation is recorded as done, and nothing is left to do.
    Once for a user's attributes, once for a group's members."""
    ws.write_manifest(manifest(people("Night Lead", e2_groups=("Sales", "Support"))))
    lose.append("PATCH")
    out = ok(ws, "apply", "--auto-approve")
    assert "1 of 1 operation succeeded" in out, out
    assert not lose, "no reply was lost: the test did not test anything"
    converged(ws)
    assert live.users()["E1"]["title"] == "Night Lead"

    ws.write_manifest(manifest(people("Night Lead", e2_groups=("Sales",))))
    lose.append("PATCH")
    out = ok(ws, "apply", "--auto-approve")
    assert "1 of 1 operation succeeded" in out, out
    assert not lose
    converged(ws)
    # Both recoveries really went through a conflict answer, not a clean retry.
    assert recovered_statuses(ws).count(conflict) == 2
    assert "E2" not in live.members("Support")
