"""Load a 20,000-user YAML manifest and a manifest with a 20,000-row CSV source.

Before the network, a big plan spends its time here: parsing, checking and mapping
the feed. Goals on this machine: the YAML manifest loads in under 3 seconds and the
CSV source in under 2 seconds, errors still naming their line or row (the tests in
tests/unit/test_manifest*.py, tests/unit/test_yaml_loaders.py and tests/*/test_hr_*.py hold that;
this only measures). The goals are judged on CPU time, which other processes on a
busy machine do not inflate as they do the wall time; both are printed, with the
load. The CSV has 10,000 distinct phone numbers over its 20,000 rows (a 555 exchange
has no more) and maps them through the phone filter.
Run with `make bench-manifest`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import GOALS_MISSED, machine_load, table  # noqa: E402

from scimctl.manifest import load_manifest  # noqa: E402

HEAD = """version: 1
target:
  provider: genesys
  api_url: http://127.0.0.1:9
defaults: {division: Home, roles: [Employee]}
policy: {deprovision: deactivate, max_deprovision: "10%"}
groups:
""" + "".join(f"  - name: Team {g:02}\n" for g in range(20))


def yaml_manifest(users: int) -> str:
    out = [HEAD, "users:\n"]
    for i in range(users):
        manager = f"\n    manager: HR-{i // 10:05}" if i >= 10 else ""
        out.append(
            f"  - externalId: HR-{i:05}\n"
            f"    userName: user{i:05}@example.com\n"
            f"    displayName: User {i}\n"
            f"    title: Agent\n"
            f"    department: Support\n"
            f"    active: true\n"
            f"    roles: [Employee, Agent]\n"
            f"    groups: [Team {i % 20:02}]{manager}\n"
        )
    return "".join(out)


def csv_manifest(rows: int, folder: Path) -> str:
    lines = ["employee_id,first_name,last_name,email,job_title,team,status,phone,manager"]
    for i in range(rows):
        status = "Active" if i % 20 else "Leave"
        manager = f"HR-{i // 10:05}" if i >= 10 else ""
        lines.append(
            f"HR-{i:05},First{i},Last{i},user{i:05}@example.com,Agent,Team {i % 20:02},"
            f"{status},(212) 555-{i % 10000:04},{manager}"
        )
    (folder / "export.csv").write_text("\n".join(lines) + "\n")
    return (
        HEAD
        + """sources:
  - csv: export.csv
    map:
      externalId: "{{ row.employee_id }}"
      userName: "{{ row.email | lower }}"
      displayName: "{{ row.first_name }} {{ row.last_name }}"
      title: "{{ row.job_title }}"
      department: Support
      active: "{{ row.status == 'Active' }}"
      phoneNumbers: "{{ row.phone | phone('US') }}"
      roles: "Employee, Agent"
      groups: "{{ row.team }}"
      manager: "{{ row.manager }}"
"""
    )


def timed(path: Path, expected: int) -> tuple[float, float]:
    """Wall and CPU seconds: on a busy shared machine the CPU time is the steadier."""
    start, cpu = time.perf_counter(), time.process_time()
    manifest = load_manifest(path)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if len(manifest.desired.users) != expected:
        raise SystemExit(f"{path.name}: {len(manifest.desired.users)} users, expected {expected}")
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000, help="users in the YAML manifest")
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the CSV source")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "yaml").mkdir()
        (folder / "csv").mkdir()
        yaml_path = folder / "yaml" / "scimctl.yaml"
        yaml_path.write_text(yaml_manifest(args.users))
        csv_path = folder / "csv" / "scimctl.yaml"
        csv_path.write_text(csv_manifest(args.rows, folder / "csv"))
        (yaml_s, yaml_cpu), (csv_s, csv_cpu) = (
            timed(yaml_path, args.users),
            timed(csv_path, args.rows),
        )
    load = machine_load()
    print(
        table(
            f"manifest loading (load_manifest), {load}",
            ["input", "users", "seconds", "CPU seconds", "goal"],
            [
                [
                    "YAML manifest",
                    args.users,
                    f"{yaml_s:.2f}",
                    f"{yaml_cpu:.2f}",
                    "< 3 s at 20,000",
                ],
                ["CSV source", args.rows, f"{csv_s:.2f}", f"{csv_cpu:.2f}", "< 2 s at 20,000"],
            ],
        )
    )
    # The goals scale with the size; a small run (the smoke test's) gets half a second.
    ok = yaml_cpu < max(3 * args.users / 20_000, 0.5) and csv_cpu < max(2 * args.rows / 20_000, 0.5)
    print("goals met (CPU time)" if ok else "GOALS MISSED (CPU time)")
    sys.exit(0 if ok else GOALS_MISSED)


if __name__ == "__main__":
    main()
