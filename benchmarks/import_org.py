"""Import an org of 20,000 live users (2,000 inactive) in 20 groups.

Prints the requests and wall time of `import` and of a plan against the manifest it
wrote (which must show no changes). Goals: import makes no more requests than that
plan, and takes under 10 seconds against the emulator on this machine.
Run with `make bench-import`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import CLIENT, GOALS_MISSED, emulator, table  # noqa: E402

from scimctl.commands import plans as commands  # noqa: E402
from scimctl.manifest import load_manifest  # noqa: E402
from scimctl.manifest.build import ImportOptions  # noqa: E402
from scimctl.scim.client import GenesysClient  # noqa: E402
from scimctl.state.store import Store  # noqa: E402

LIVE, GROUPS = 20_000, 20


def seed() -> dict:
    users = []
    for i in range(LIVE):
        users.append(
            {
                "userName": f"user{i:05}@example.com",
                "displayName": f"User {i}",
                "externalId": f"HR-{i:05}",
                "active": i % 10 != 0,
                "title": "Agent" if i % 3 else "Lead",
                "department": ["Support", "Sales", "Billing"][i % 3],
                "division": "Home",
                "roles": ["Employee", "Agent"] if i % 4 else ["Employee"],
                "groups": [f"Team {i % GROUPS:02}"],
            }
        )
    return {
        "roles": [
            {"name": "Employee", "permissions": ["directory:user:view"]},
            {"name": "Agent", "permissions": ["routing:agent:view"]},
        ],
        "groups": [{"name": f"Team {g:02}"} for g in range(GROUPS)],
        "users": users,
    }


def main() -> None:
    global LIVE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", type=int, default=LIVE, help="users in the directory")
    LIVE = parser.parse_args().live
    with emulator(seed()) as target, tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/state.db")
        out = Path(tmp) / "imported.yaml"
        with GenesysClient.connect(target, CLIENT) as client:
            start = time.monotonic()
            client.snapshot()
            read_seconds = time.monotonic() - start
            read_requests = client.request_stats.requests
        with GenesysClient.connect(target, CLIENT) as client:
            start = time.monotonic()
            result = commands.import_directory(
                target, client, store, ImportOptions(), out=str(out),
                manifest_target={"api_url": target.api_url},
            )  # fmt: skip
            import_seconds = time.monotonic() - start
            import_requests = client.request_stats.requests
        with GenesysClient.connect(target, CLIENT) as client:
            start = time.monotonic()
            plan = commands.plan(load_manifest(out), target, client, store)
            plan_seconds = time.monotonic() - start
            plan_requests = client.request_stats.requests
    print(
        table(
            f"Import {LIVE:,} live users ({len(result.users):,} imported, "
            f"{len(result.groups)} groups)",
            ["step", "requests", "seconds", "goal"],
            [
                ["directory read alone (reference)", read_requests, f"{read_seconds:.2f}", "-"],
                [
                    "import",
                    import_requests,
                    f"{import_seconds:.2f}",
                    "requests <= plan's, seconds < 10",
                ],
                [
                    "plan of the written manifest",
                    plan_requests,
                    f"{plan_seconds:.2f}",
                    f"no changes (got {len(plan.actions)})",
                ],
            ],
        )  # fmt: skip
    )
    ok = (
        import_requests <= plan_requests
        and import_seconds < 10
        and not plan.actions
        and len(result.users) == LIVE
    )
    print("goals met" if ok else "GOALS NOT MET")
    sys.exit(0 if ok else GOALS_MISSED)


if __name__ == "__main__":
    main()
