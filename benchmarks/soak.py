"""Run the fault-injection tests many times while other processes keep every core busy.

A flaky test is a defect; this is how we look for one. The chaos test (random 5xx,
dropped connections, rate limits) and the SIGKILL tests run ``--runs`` times in a
row (default 20) next to one busy-loop process per core, and the table says how
many runs passed. Usage::

    make soak                      # 20 runs, every core busy
    .venv/bin/python benchmarks/soak.py --runs 5 --busy 0
    .venv/bin/python benchmarks/soak.py --tokens 4   # only the runs with a pool of 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = [
    "tests/e2e/test_apply.py::test_chaos_run_completes_with_no_duplicates",
    "tests/e2e/test_apply.py::test_sigkill_at_random_points_converges",
    "tests/e2e/test_apply.py::test_sigkill_on_postgresql_converges",
]


def _spin(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


def pytest(root: Path, *args: str, tests: list[str] = TESTS) -> subprocess.CompletedProcess[str]:
    """pytest on the soaked tests, run from outside the checkout: under ``make test`` the
    suite must import the installed scimctl, never the sources beside the tests."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root),
         "-c", str(root / "pyproject.toml"), *args, *(str(root / t) for t in tests)],
        cwd=tempfile.gettempdir(), capture_output=True, text=True,
    )  # fmt: skip


def with_tokens(root: Path, tokens: str) -> list[str]:
    """The soaked tests' runs with this many tokens (their last parameter)."""
    found = pytest(root, "--collect-only").stdout.split()
    picked = [t for t in found if "::" in t and t.endswith((f"[{tokens}]", f"-{tokens}]"))]
    if not picked:
        raise SystemExit(f"no soaked test runs with {tokens} tokens")
    return picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy processes")
    parser.add_argument("--max-minutes", type=float, default=60.0)
    parser.add_argument(
        "--collect-only", action="store_true", help="only check that the soaked tests exist"
    )
    parser.add_argument(
        "--tokens", choices=["1", "4"], help="only the runs with one token, or a pool of 4"
    )
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    tests = with_tokens(root, args.tokens) if args.tokens else TESTS
    if args.collect_only:
        found = pytest(root, "--collect-only", tests=tests)
        print(found.stdout.strip().splitlines()[-1] if found.stdout.strip() else found.stderr)
        return found.returncode
    stop_at = time.monotonic() + args.max_minutes * 60
    spinners = [
        multiprocessing.Process(target=_spin, args=(stop_at,), daemon=True)
        for _ in range(args.busy)
    ]
    for p in spinners:
        p.start()
    passed = failed = 0
    started = time.monotonic()
    try:
        for run in range(1, args.runs + 1):
            if time.monotonic() > stop_at:
                print(f"stopped after {run - 1} runs: --max-minutes reached")
                break
            t0 = time.monotonic()
            result = pytest(root, tests=tests)
            ok = result.returncode == 0
            passed += ok
            failed += not ok
            tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
            print(f"run {run:>3}: {'pass' if ok else 'FAIL'} {time.monotonic() - t0:6.1f}s  {tail}")
            if not ok:
                print(result.stdout[-4000:])
    finally:
        for p in spinners:
            p.terminate()
    total = time.monotonic() - started
    load = os.getloadavg()[0]
    print(
        "\n| runs | passed | failed | tokens | busy processes | load at the end | minutes |"
        "\n|---|---|---|---|---|---|---|"
    )
    print(
        f"| {passed + failed} | {passed} | {failed} | {args.tokens or '1 and 4'} | {args.busy} "
        f"| {load:.1f} | {total / 60:.1f} |"
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
