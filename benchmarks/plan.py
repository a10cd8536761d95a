"""Plan 5,000 managed users against an emulator holding 20,000 users.

Prints requests made, wall time, peak memory and the CPU time of the pure diff,
and checks them against the goals: requests <= 2 x ceil(users / page size) plus
the group and role pages, and the pure diff under 2 seconds of CPU. Every managed
user holds a role scoped by division, so the grants are read too (one paged
``subjectgrants`` listing per scoped role) and must fit in the same bound.
Run with `make bench-plan`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import CLIENT, GOALS_MISSED, emulator, table  # noqa: E402

from scimctl.apply.guard import target_document  # noqa: E402
from scimctl.grants import RoleScope  # noqa: E402
from scimctl.model import Desired, GroupSpec, Policy, UserSpec  # noqa: E402
from scimctl.plan.diff import compute_plan  # noqa: E402
from scimctl.scim.client import GenesysClient  # noqa: E402
from scimctl.scim.read import with_grants  # noqa: E402
from scimctl.state.store import Store  # noqa: E402

LIVE, MANAGED, GROUPS, GONE = 20_000, 5_000, 20, 50


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
    """Record the first MANAGED users as managed, as a previous apply would have."""
    store.begin_apply(workspace, "", 0)
    users = [u for u in client.snapshot().users if u.external_id]
    with store.tx() as conn:
        for u in users:
            store.put_user(conn, workspace, u.external_id, u.id, u.user_name, u.attrs, u.version)


def main() -> None:
    global LIVE, MANAGED, GONE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", type=int, default=LIVE, help="users in the directory")
    parser.add_argument("--managed", type=int, default=MANAGED, help="users in the manifest")
    args = parser.parse_args()
    LIVE, MANAGED = args.live, min(args.managed, args.live)
    GONE = min(GONE, MANAGED // 100)
    d = desired()
    with emulator(seed()) as target, tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/state.db")
        with GenesysClient.connect(target, CLIENT) as setup:
            manage(store, target.workspace, setup)
        client = GenesysClient.connect(target, CLIENT)
        tracemalloc.start()
        start = time.perf_counter()
        snapshot = with_grants(client, client.snapshot(), d)
        read_s = time.perf_counter() - start
        state = store.state(target.workspace)
        cpu0 = time.process_time()
        plan = compute_plan(
            d, snapshot, state, workspace=target.workspace,
            target=target_document(target), manifest_digest="sha256:bench",
        )  # fmt: skip
        diff_cpu = time.process_time() - cpu0
        wall = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        requests = client.transport.stats.requests
        client.close()
    page = client.page_size
    bound = 2 * math.ceil(LIVE / page) + math.ceil(GROUPS / page) + 1
    counts = ", ".join(f"{k} {n}" for k, n in plan.summary.counts.items() if n)
    rows = [
        ["live users / managed / groups", f"{LIVE} / {len(state.users)} / {GROUPS}", ""],
        ["plan actions", len(plan.actions), counts],
        ["requests", requests, f"goal <= {bound}"],
        ["wall time (read + diff)", f"{wall:.2f}s", f"read {read_s:.2f}s"],
        ["pure diff CPU", f"{diff_cpu:.3f}s", "goal < 2s"],
        ["peak traced memory", f"{peak / 2**20:.1f} MiB", ""],
    ]
    print(table("scimctl plan benchmark", ["measure", "value", "note"], rows))
    ok = requests <= bound and diff_cpu < 2.0
    print("goals met" if ok else "GOALS MISSED")
    sys.exit(0 if ok else GOALS_MISSED)


if __name__ == "__main__":
    main()
