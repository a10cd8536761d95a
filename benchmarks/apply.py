"""Apply 2,000 new users in 20 groups against the emulator, latency-bound and rate-bound.

(a) latency-bound: 20 ms per request, no rate limit, parallelism 1 and 8;
(b) rate-bound: 1,200 requests per minute per token, parallelism 8;
(c) a pool: 300 requests per token per window (Genesys's per-minute limit, in a window
    shortened by --window), 1 token against 10 tokens;
(d) the same 10 tokens under an org limit of 6 tokens' worth, with target.max_rate set
    just below it.
Goals: (a) parallelism 8 gives at least 5x the operations per second of parallelism 1;
(b) wall time at most 1.10x the floor (requests / rate) with no failed operation;
(c) 10 tokens within 1.10x of their floor and at least 8x faster than 1 token;
(d) within 1.10x of the org floor, 429s under 1% of requests; in (c) and (d) no failed
operation, no duplicate, and the plan's Cost estimate within 15% of the requests and
time measured. Each case plans (the Cost counts the plan's own read as apply's re-read)
and applies as the CLI does, re-reading the directory under the lock before writing.
Run with `make bench-apply` (`--only pool` for (c) and (d)).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import CLIENT, GOALS_MISSED, emulator, machine_load, table  # noqa: E402

from scimctl.apply import Recheck, apply_plan  # noqa: E402
from scimctl.apply.recompute import target_document  # noqa: E402
from scimctl.model import Desired, GroupSpec, Policy, UserSpec  # noqa: E402
from scimctl.plan.cost import estimate  # noqa: E402
from scimctl.plan.diff import compute_plan  # noqa: E402
from scimctl.scim.client import GenesysClient  # noqa: E402
from scimctl.scim.pool import TOKEN_RATE, Budget  # noqa: E402
from scimctl.state.store import Store  # noqa: E402

USERS, GROUPS, RATE = 2_000, 20, 1_200


def seed() -> dict:
    return {
        "roles": [{"name": "Employee", "permissions": []}, {"name": "Agent", "permissions": []}],
        "groups": [{"name": f"Team {g:02}"} for g in range(GROUPS)],
    }


def desired() -> Desired:
    users = {
        f"HR-{i:05}": UserSpec(
            f"HR-{i:05}",
            {
                "userName": f"user{i:05}@example.com",
                "displayName": f"User {i}",
                "active": True,
                "title": "Agent",
                "roles": ["Agent", "Employee"],
            },  # fmt: skip
            (f"Team {i % GROUPS:02}",),
        )
        for i in range(USERS)
    }
    groups = {f"Team {g:02}": GroupSpec(f"Team {g:02}") for g in range(GROUPS)}
    return Desired(users, groups, Policy())


def run(
    parallelism: int, *options: str, budget: Budget | None = None, cost: Budget | None = None
) -> dict:
    """Plan, then apply as the CLI does (re-reading the directory under the lock first),
    on one client with ``budget``. The plan's Cost is computed as ``scimctl plan``
    computes it (its actions plus what the plan's own read took) and compared with the
    apply's requests and wall time; ``cost`` is the budget in Genesys's units (a
    minute's window) when the client's own is scaled to the emulator's shorter window."""
    with emulator(seed(), *options) as target, tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/state.db")
        d = desired()
        with GenesysClient.connect(
            target, CLIENT, parallelism=parallelism, budget=budget
        ) as client:
            stats = client.request_stats
            before = stats.requests
            snapshot = client.snapshot()
            reads = stats.requests - before
            plan = compute_plan(
                d, snapshot, store.state(target.workspace), workspace=target.workspace,
                target=target_document(target), manifest_digest="sha256:bench",
            )  # fmt: skip
            stated = cost or budget or Budget()
            estimated = estimate(
                plan.actions, reads, per_minute=stated.per_minute, tokens=stated.tokens
            )
            before, throttled = stats.requests, stats.throttled
            start = time.perf_counter()
            report = apply_plan(
                plan, client, store, parallelism=parallelism,
                recheck=Recheck(d, target, "sha256:bench"),
            )  # fmt: skip
            wall = time.perf_counter() - start
            requests, throttled = stats.requests - before, stats.throttled - throttled
            users = len(client.list_users())
        m = report.metrics
        return {
            "users": users,
            "cost": estimated,
            "ops": len(report.results),
            "failed": len(report.failed),
            "wall": wall,
            "requests": requests,
            "throttled": throttled,
            "ops_per_s": len(report.results) / report.wall_seconds,
            "p95": m["latency_ms_p95"],
        }


def pool_cases(window: float) -> bool:
    """(c) and (d): rate-bound by tokens, then by the org; True when the goals hold."""
    scale = 60 / window  # the emulator's window is shortened; the estimate is per minute
    token_rate = TOKEN_RATE / window  # requests per second per token
    org_limit = 6 * TOKEN_RATE  # per window: six tokens' worth, below ten
    cases = [
        ("1 token", run(8, *limit(window), budget=Budget(1)), token_rate),
        ("10 tokens", run(40, *limit(window), budget=Budget(10)), 10 * token_rate),
        (
            "10 tokens, org limit",
            run(
                40, *limit(window), "--org-rate-limit", f"{org_limit}/min",
                budget=Budget(10, max_rate=int(0.97 * org_limit * scale)),
                cost=Budget(10, max_rate=int(0.97 * org_limit)),
            ),
            org_limit / window,
        ),
    ]  # fmt: skip
    rows, ok = [], True
    for name, r, rate in cases:
        floor = r["requests"] / rate
        cost = r["cost"]
        est_time = cost.seconds / scale
        req_err = abs(cost.requests - r["requests"]) / r["requests"]
        time_err = abs(est_time - r["wall"]) / r["wall"]
        rows.append([
            name, r["requests"], f"{r['wall']:.1f}s", f"{floor:.1f}s",
            f"{r['wall'] / floor:.3f}", r["throttled"], r["failed"], r["users"],
            f"{cost.requests} ({req_err:.0%})", f"{est_time:.1f}s ({time_err:.0%})",
        ])  # fmt: skip
        ok = ok and r["failed"] == 0 and r["users"] == USERS and req_err <= 0.15
        ok = ok and r["wall"] / floor <= 1.10 and time_err <= 0.15
        if "org" in name:
            ok = ok and r["throttled"] <= 0.01 * r["requests"]
    speedup = cases[0][1]["wall"] / cases[1][1]["wall"]
    print(
        table(
            f"(c, d) token pool: {USERS} users in {GROUPS} groups, {TOKEN_RATE} requests per "
            f"token per {window:g} s window; org limit {org_limit} per window in (d); "
            f"{machine_load()}",
            ["case", "requests", "wall", "floor", "wall/floor", "429s", "failed", "users",
             "estimated requests", "estimated time"],
            rows,
        )
    )  # fmt: skip
    print(f"10 tokens against 1: {speedup:.1f}x faster (goal >= 8x)")
    print("goals: wall/floor <= 1.10, 429s < 1% with the org limit, estimates within 15%\n")
    return ok and speedup >= 8


def limit(window: float) -> tuple[str, ...]:
    return ("--rate-limit", f"{TOKEN_RATE}/min", "--rate-window", f"{window:g}")


def main() -> None:
    global USERS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=USERS, help="users to create")
    parser.add_argument(
        "--window", type=float, default=20.0, help="the emulator's rate window (s) in (c), (d)"
    )
    parser.add_argument("--only", choices=["pool"], help="run only the pool cases")
    args = parser.parse_args()
    USERS = args.users
    if args.only == "pool":
        ok = pool_cases(args.window)
        print("goals met" if ok else "GOALS MISSED")
        sys.exit(0 if ok else GOALS_MISSED)
    serial = run(1, "--latency", "20")
    parallel = run(8, "--latency", "20")
    speedup = parallel["ops_per_s"] / serial["ops_per_s"]
    rows = [
        [
            p,
            r["ops"],
            r["requests"],
            f"{r['wall']:.1f}s",
            f"{r['ops_per_s']:.1f}",
            f"{r['p95']:.0f}",
            r["failed"],
        ]
        for p, r in ((1, serial), (8, parallel))
    ]
    print(
        table(
            f"(a) latency-bound: {USERS} users in {GROUPS} groups, 20 ms per request, "
            "no rate limit",
            ["parallelism", "operations", "requests", "wall", "ops/s", "p95 ms", "failed"],
            rows,
        )
    )
    print(f"speed-up at parallelism 8: {speedup:.1f}x (goal >= 5x)\n")

    limited = run(8, "--rate-limit", f"{RATE}/min")
    floor = limited["requests"] / (RATE / 60)
    ratio = limited["wall"] / floor
    print(
        table(
            f"(b) rate-bound: {RATE} requests per minute per token, parallelism 8",
            ["operations", "requests", "wall", "floor", "wall/floor", "429s", "failed"],
            [[limited["ops"], limited["requests"], f"{limited['wall']:.1f}s", f"{floor:.1f}s",
              f"{ratio:.3f}", limited["throttled"], limited["failed"]]],
        )
    )  # fmt: skip
    print("goal: wall/floor <= 1.10 and no failed operation\n")
    ok = pool_cases(args.window) and (
        speedup >= 5
        and ratio <= 1.10
        and limited["failed"] == serial["failed"] == parallel["failed"] == 0
    )
    print("goals met" if ok else "GOALS MISSED")
    sys.exit(0 if ok else GOALS_MISSED)


if __name__ == "__main__":
    main()
