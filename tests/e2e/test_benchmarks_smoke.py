"""Every benchmark runs end to end at a tiny size, so none can rot unnoticed again.

The benchmarks are run by hand (``make bench-*``); nothing ran them for a while and
they crashed on a changed Plan model. Here each one runs as a user would start it,
with a size small enough for seconds. Their speed goals are not judged at this size
(that is what the full runs are for): a missed goal exits with GOALS_MISSED, which
passes; a crash exits 1 with a traceback, which fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOALS_MISSED = 3  # benchmarks/common.py


@pytest.mark.parametrize(
    ("script", "args", "title"),
    [
        ("plan.py", ["--live", "300", "--managed", "100"], "scimctl plan benchmark"),
        ("apply.py", ["--users", "20", "--window", "2"], "(c, d) token pool"),
        (
            "plan.py",
            ["--live", "300", "--managed", "100", "--tokens", "1,2", "--window", "2"],
            "(2 tokens)",
        ),
        ("import_org.py", ["--live", "200"], "Import 200 live users"),
        ("load_manifest.py", ["--users", "200", "--rows", "200"], "manifest loading"),
        ("soak.py", ["--collect-only"], "10 tests collected"),
        ("report_access.py", ["--accounts", "200"], "report access over 200 accounts"),
        ("plan_rfc.py", ["--users", "30"], "plan of N managed users, no versions"),
    ],
)
def test_benchmark_runs_at_small_size(script: str, args: list[str], title: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, GOALS_MISSED), result.stdout + result.stderr
    assert title in result.stdout, result.stdout
