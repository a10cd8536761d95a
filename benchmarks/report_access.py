"""Time and memory of `scimctl report access` over 20,000 accounts.

A state database is written as an apply of that many accounts would leave it (a
create per account with its roles, one membership change per group), with a
conflict rule, a limit and exceptions in the manifest; then the report is built
from it as the command does (history read, replay, rules) and rendered as JSON,
CSV and HTML. Goal on this machine: under 20 CPU seconds and 1 GiB at 20,000
accounts.
Run with `make bench-report`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import GOALS_MISSED, table  # noqa: E402

from scimctl.commands import plans  # noqa: E402
from scimctl.commands import report as reports
from scimctl.governance.html import render_csv, render_html  # noqa: E402
from scimctl.manifest import load_manifest  # noqa: E402
from scimctl.state import Store  # noqa: E402

GROUPS = 20


def manifest(accounts: int) -> str:
    out = [
        "version: 1\ntarget: {provider: genesys, api_url: 'http://127.0.0.1:9'}\n",
        "defaults: {division: Home}\npolicy:\n  rules:\n",
        "    - {id: SOD-1, description: d, conflict: [Agent, Supervisor]}\n",
        "    - {id: ADM-1, description: d, role: Master Admin, max: 3}\n",
        "    - {id: MGR-1, description: d, when: {role: Agent}, require: {attribute: title}}\n",
        "  exceptions:\n",
        *(f"    - {{rule: SOD-1, user: HR-{i:05}, reason: r, until: 2099-01-01, "
          f"approved_by: CFO}}\n" for i in range(0, accounts, 1000)),
        "groups:\n", *(f"  - name: Team {g:02}\n" for g in range(GROUPS)), "users:\n",
    ]  # fmt: skip
    for i in range(accounts):
        out.append(
            f"  - {{externalId: HR-{i:05}, userName: user{i:05}@example.com, "
            f"displayName: User {i}, title: Agent, roles: {roles(i)}, "
            f"groups: [Team {i % GROUPS:02}]}}\n"
        )
    return "".join(out)


def roles(i: int) -> list[str]:
    extra = ["Supervisor"] if i % 500 == 0 else []
    extra += ["Master Admin"] if i % 2000 == 0 else []
    return ["Employee", "Agent", *extra]


def write_state(url: str, workspace: str, accounts: int) -> None:
    """The state and journal an apply of ``accounts`` creates leaves behind."""
    store = Store(url)
    run = store.start_run(workspace, "apply")
    base = {"workspace": workspace, "run_id": run, "phase": "result", "method": None,
            "path": None, "status": 201, "outcome": "ok", "attempts": 1, "latency_ms": 5.0,
            "error": None}  # fmt: skip
    with store.tx() as conn:
        users = []
        for i in range(accounts):
            key, name = f"HR-{i:05}", f"user{i:05}@example.com"
            attrs = {"userName": name, "title": "Agent", "roles": roles(i), "active": True}
            users.append((key, f"id-{i}", name, attrs, '"1"'))
            changes = {k: {"before": None, "after": v} for k, v in attrs.items()}
            store.append_operation(
                conn,
                {**base, "action_id": f"create:user:{key}", "action": "create",
                 "resource": "user", "resource_key": key, "resource_id": f"id-{i}",
                 "user_name": name, "changes": changes},
            )  # fmt: skip
        store.put_users(conn, workspace, users)
        for g in range(GROUPS):
            name = f"Team {g:02}"
            members = [f"HR-{i:05}" for i in range(g, accounts, GROUPS)]
            store.append_operation(
                conn,
                {**base, "action_id": f"add_members:group:{name}", "action": "add_members",
                 "resource": "group", "resource_key": name, "resource_id": f"g-{g}",
                 "user_name": None,
                 "changes": {"members": {"added": [f"user{k[3:]}@example.com" for k in members]}}},
            )  # fmt: skip
            store.put_memberships(conn, workspace, name, f"g-{g}", members, [])
    store.finish_run(run, "succeeded", summary={"operations": accounts + GROUPS})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "scimctl.yaml").write_text(manifest(args.accounts))
        loaded = load_manifest(folder / "scimctl.yaml")
        workspace = plans.target_of(loaded).workspace
        url = f"sqlite:///{folder / 'state.db'}"
        setup = time.perf_counter()
        write_state(url, workspace, args.accounts)
        setup = time.perf_counter() - setup
        store = Store(url)
        day = loaded.desired.governance.as_of

        def run() -> tuple[Any, dict[str, int]]:
            report = reports.access_report(
                loaded, workspace, store.audit, store.state(workspace), day
            )
            return report, {
                "json": len(json.dumps(report.doc())),
                "csv": len(render_csv(report)),
                "html": len(render_html(report)),
            }

        start, cpu = time.perf_counter(), time.process_time()
        report, sizes = run()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        tracemalloc.start()  # a second run for memory: tracing slows it several times
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if report.accounts != args.accounts:
        raise SystemExit(f"report has {report.accounts} accounts, expected {args.accounts}")
    mib = peak / 2**20
    scale = args.accounts / 20_000
    print(
        table(
            f"report access over {args.accounts:,} accounts ({len(report.rows):,} roles and "
            f"groups held, {report.violations} violations; state written in {setup:.1f} s)",
            ["report", "wall s", "CPU s", "peak MiB (traced)", "output", "goal"],
            [
                [
                    "history read, replay, rules; JSON, CSV, HTML",
                    f"{seconds:.2f}",
                    f"{cpu:.2f}",
                    f"{mib:.0f}",
                    ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items()),
                    "< 20 CPU s, < 1,024 MiB at 20,000",
                ],
            ],
        )
    )
    # CPU time: on a machine shared by several busy processes wall time says little.
    ok = cpu < 20 * scale + 1 and mib < 1024
    print("goals met" if ok else "GOALS MISSED")
    sys.exit(0 if ok else GOALS_MISSED)


if __name__ == "__main__":
    main()
