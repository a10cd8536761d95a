"""Plan 5,000 managed users against an emulator holding 20,000 users.

Prints requests made, wall time, peak memory and the CPU time of the pure diff,
and checks them against the goals: requests <= 2 x ceil(users / page size) plus
the group, role and division reads, and the pure diff under 2 seconds of CPU. Every
managed user holds a role scoped by division, so the grants are read too (one paged
``subjectgrants`` listing per scoped role) and must fit in the same bound. The plan is
read and computed as ``scimctl plan`` does, once per token pool (``--tokens 1,10``,
a fresh emulator each); with ``--apply`` each plan is then applied as the CLI does,
and the plan's ``Cost:`` estimate is set against the requests and the wall time the
apply took (goal: within 15%; the time only under a rate limit, ``--window``).
Run with `make bench-plan` (which adds the 50,000-user case with 10 tokens).
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import CLIENT, GOALS_MISSED, emulator, machine_load, table  # noqa: E402

from scimctl.apply import Recheck, apply_plan  # noqa: E402
from scimctl.apply.recompute import Options, recompute, target_document  # noqa: E402
from scimctl.model import Desired, GroupSpec, Policy, UserSpec  # noqa: E402
from scimctl.model.grants import RoleScope  # noqa: E402
from scimctl.plan.cost import estimate  # noqa: E402
from scimctl.plan.diff import compute_plan  # noqa: E402
from scimctl.scim.client import GenesysClient  # noqa: E402
from scimctl.scim.pool import Budget  # noqa: E402
from scimctl.state.store import Store  # noqa: E402

LIVE, MANAGED, GROUPS, GONE = 20_000, 5_000, 20, 50
DIGEST = "sha256:bench"


def seed() -> dict:
    users = []
    for i in range(LIVE):
        u = {
            "userName": f"user{i:05}@example.com",
            "displayName": f"User {i}",
            "active": i % 10 != 0,
        }
        u["roles"] = ["Employee"]
        if i < MANAGED:
            u.update(externalId=f"HR-{i:05}", title="Agent", active=True)
            u["groups"] = [f"Team {i % GROUPS:02}"]
            # Every managed user supervises in one division (Platform grants).
            u["grants"] = [{"role": "Supervisor", "division": "Sales"}]
        users.append(u)
    return {
        "roles": [
            {"name": "Employee", "permissions": ["directory:user:view"]},
            {"name": "Supervisor", "permissions": ["routing:queue:view"]},
        ],
        "divisions": ["Sales", "Support"],
        "groups": [{"name": f"Team {g:02}"} for g in range(GROUPS)],
        "users": users,
    }


def desired() -> Desired:
    """5,000 users: 4,950 already managed (1 in 50 with a new title), 50 new hires;
    50 managed users have left and are deprovisioned."""
    users = {}
    for i in range(GONE, MANAGED + GONE):
        name = f"user{i:05}@example.com" if i < MANAGED else f"hire{i:05}@example.com"
        title = "Senior Agent" if i % 50 == 0 else "Agent"
        attrs = {
            "userName": name, "displayName": f"User {i}",
            "active": True, "title": title, "roles": ["Employee"],
        }  # fmt: skip
        # 1 in 100 moves from Sales to Support: a grants action each.
        scope = RoleScope("Supervisor", ("Support",) if i % 100 == 1 else ("Sales",))
        users[f"HR-{i:05}"] = UserSpec(
            f"HR-{i:05}", attrs, (f"Team {i % GROUPS:02}",), scopes=(scope,)
        )
    groups = {f"Team {g:02}": GroupSpec(f"Team {g:02}") for g in range(GROUPS)}
    return Desired(users, groups, Policy(max_deprovision="5%"))


def manage(store: Store, workspace: str, client: GenesysClient) -> None:
    """Record the first MANAGED users and their memberships as managed, as a previous
    apply would have (a membership state does not know is read again by group)."""
    store.begin_apply(workspace, "", 0)
    snapshot = client.snapshot()
    users = [u for u in snapshot.users if u.external_id]
    keys = {u.id: u.external_id for u in users}
    with store.tx() as conn:
        for u in users:
            store.put_user(conn, workspace, u.external_id, u.id, u.user_name, u.attrs, u.version)
        for g in snapshot.groups:
            members = [keys[m] for m in g.members if m in keys]
            store.put_memberships(conn, workspace, g.name, g.id, members, [])


def measure(target: Any, store: Store, d: Desired, budget: Budget) -> dict[str, Any]:
    """One plan, read and computed as ``scimctl plan`` does, with this token pool:
    requests, wall, CPU, memory, and the Cost it states."""
    client = GenesysClient.connect(target, CLIENT, budget=budget)
    tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    state = store.state(target.workspace)
    now = recompute(client, d, state, Options(target, DIGEST))
    plan = now.plan()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    requests = client.request_stats.requests
    client.close()
    cpu0 = time.process_time()  # the pure diff again, without the network
    compute_plan(
        d, now.snapshot, state, workspace=target.workspace,
        target=target_document(target), manifest_digest=DIGEST,
    )  # fmt: skip
    diff_cpu = time.process_time() - cpu0
    cost = estimate(plan.actions, requests, per_minute=budget.per_minute, tokens=budget.tokens)
    return {
        "plan": plan, "state": state, "requests": requests, "wall": wall, "cpu": cpu,
        "diff_cpu": diff_cpu, "peak": peak, "page": client.page_size, "cost": cost,
    }  # fmt: skip


def apply(target: Any, store: Store, d: Desired, plan: Any, budget: Budget) -> dict[str, Any]:
    """Apply the plan as the CLI does (re-read under the lock, then write): what the
    plan's Cost foretold, measured."""
    with GenesysClient.connect(
        target, CLIENT, budget=budget, parallelism=budget.parallelism
    ) as client:
        stats = client.request_stats
        start = time.perf_counter()
        report = apply_plan(
            plan, client, store, parallelism=budget.parallelism,
            recheck=Recheck(d, target, DIGEST),
        )  # fmt: skip
        return {
            "requests": stats.requests, "wall": time.perf_counter() - start,
            "failed": len(report.failed), "throttled": stats.throttled,
        }  # fmt: skip


def main() -> None:
    global LIVE, MANAGED, GONE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", type=int, default=LIVE, help="users in the directory")
    parser.add_argument("--managed", type=int, default=MANAGED, help="users in the manifest")
    parser.add_argument(
        "--tokens", default="1", help="token pools to compare, e.g. 1,10 (a fresh emulator each)"
    )
    parser.add_argument(
        "--window", type=float,
        help="rate-limit the emulator at 300 requests per token per WINDOW seconds",
    )  # fmt: skip
    parser.add_argument(
        "--apply", action="store_true",
        help="apply each plan too and compare its Cost with the requests and time measured",
    )  # fmt: skip
    args = parser.parse_args()
    LIVE, MANAGED = args.live, min(args.managed, args.live)
    GONE = min(GONE, MANAGED // 100)
    pools = [int(t) for t in args.tokens.split(",")]
    d = desired()
    options = (
        ["--rate-limit", "300/min", "--rate-window", f"{args.window:g}"] if args.window else []
    )
    scale = 60 / args.window if args.window else None  # Genesys's minute to the window
    runs = []
    for n in pools:
        with emulator(seed(), *options) as target, tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/state.db")
            with GenesysClient.connect(target, CLIENT) as setup:
                manage(store, target.workspace, setup)
            r = measure(target, store, d, Budget(n))
            if args.apply:
                r["apply"] = apply(target, store, d, r["plan"], Budget(n))
            runs.append((n, r))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    first = runs[0][1]
    plan, state = first["plan"], first["state"]
    page = first["page"]
    # Both listings and the groups; roles, divisions and the divisions permitted; one
    # grants listing for the one scoped role; the deleted accounts (the plan creates).
    bound = 2 * math.ceil(LIVE / page) + math.ceil(GROUPS / page) + 5
    counts = ", ".join(f"{k} {n}" for k, n in plan.summary.counts.items() if n)
    limit = f"300 requests per token per {args.window:g} s" if args.window else "no rate limit"
    rows = [
        ["live users / managed / groups", f"{LIVE} / {len(state.users)} / {GROUPS}", ""],
        ["plan actions", len(plan.actions), counts],
    ]
    ok = rss < 1024
    for n, r in runs:
        tag = f" ({n} token{'s' if n > 1 else ''})" if len(runs) > 1 or n > 1 else ""
        rows += [
            [f"plan requests{tag}", r["requests"], f"goal <= {bound}"],
            [f"plan wall time (read + diff){tag}", f"{r['wall']:.2f}s", limit],
            [f"plan CPU (read + diff){tag}", f"{r['cpu']:.2f}s",
             f"pure diff {r['diff_cpu']:.3f}s, goal < 2s"],
            [f"peak traced memory{tag}", f"{r['peak'] / 2**20:.1f} MiB", ""],
        ]  # fmt: skip
        ok = ok and r["requests"] <= bound and r["diff_cpu"] < 2.0
        cost, done = r["cost"], r.get("apply")
        if done is None:
            rows.append([f"Cost stated{tag}", f"{cost.requests} requests", "not applied"])
            continue
        req_err = abs(cost.requests - done["requests"]) / max(done["requests"], 1)
        rows.append([
            f"apply requests{tag}", done["requests"],
            f"Cost: {cost.requests} ({req_err:.0%} off), goal within 15%",
        ])  # fmt: skip
        ok = ok and req_err <= 0.15 and done["failed"] == 0
        if scale:
            est = cost.seconds / scale
            time_err = abs(est - done["wall"]) / done["wall"]
            rows.append([
                f"apply wall time{tag}", f"{done['wall']:.1f}s",
                f"Cost: {est:.1f}s ({time_err:.0%} off), goal within 15%; "
                f"{done['throttled']} 429s, {done['failed']} failed",
            ])  # fmt: skip
            ok = ok and time_err <= 0.15
        else:
            rows.append([f"apply wall time{tag}", f"{done['wall']:.1f}s", "no rate limit"])
    rows.append(["peak resident memory (process)", f"{rss:.0f} MiB", "goal < 1 GiB"])
    print(table(f"scimctl plan benchmark, {machine_load()}", ["measure", "value", "note"], rows))
    print("goals met" if ok else "GOALS MISSED")
    sys.exit(0 if ok else GOALS_MISSED)


if __name__ == "__main__":
    main()
