"""Apply 2,000 new users in 20 groups against the emulator, latency-bound and rate-bound.

(a) latency-bound: 20 ms per request, no rate limit, parallelism 1 and 8;
(b) rate-bound: 1,200 requests per minute per token, parallelism 8.
Goals: (a) parallelism 8 gives at least 5x the operations per second of parallelism 1;
(b) wall time at most 1.10x the floor (requests / rate) with no failed operation.
Run with `make bench-apply`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import CLIENT, GOALS_MISSED, emulator, table  # noqa: E402

from scimctl.apply import apply_plan  # noqa: E402
from scimctl.apply.guard import target_document  # noqa: E402
from scimctl.model import Desired, GroupSpec, Policy, UserSpec  # noqa: E402
from scimctl.plan.diff import compute_plan  # noqa: E402
from scimctl.scim.client import GenesysClient  # noqa: E402
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


def run(parallelism: int, *options: str) -> dict:
    with emulator(seed(), *options) as target, tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/state.db")
        with GenesysClient.connect(target, CLIENT) as reader:
            snapshot = reader.snapshot()
        plan = compute_plan(
            desired(), snapshot, store.state(target.workspace), workspace=target.workspace,
            target=target_document(target), manifest_digest="sha256:bench",
        )  # fmt: skip
        with GenesysClient.connect(target, CLIENT, parallelism=parallelism) as client:
            report = apply_plan(plan, client, store, parallelism=parallelism)
        m = report.metrics
        return {
            "ops": len(report.results),
            "failed": len(report.failed),
            "wall": report.wall_seconds,
            "requests": int(m["requests_total"]),
            "throttled": int(m["throttled_total"]),
            "ops_per_s": len(report.results) / report.wall_seconds,
            "p95": m["latency_ms_p95"],
        }


def main() -> None:
    global USERS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=USERS, help="users to create")
    USERS = parser.parse_args().users
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
    print("goal: wall/floor <= 1.10 and no failed operation")
    ok = (
        speedup >= 5
        and ratio <= 1.10
        and limited["failed"] == serial["failed"] == parallel["failed"] == 0
    )
    print("goals met" if ok else "GOALS MISSED")
    sys.exit(0 if ok else GOALS_MISSED)


if __name__ == "__main__":
    main()
