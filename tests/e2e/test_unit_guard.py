"""tests/unit/conftest.py fails a unit test that connects a socket, connects to
PostgreSQL or starts a process, even when the code under test swallows the refusal.

Run as pytest runs it, in a pytest of its own on a copy of that conftest, so the probes'
failures are that run's, not this suite's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

PROBES = """
import socket
import subprocess

import psycopg


def test_connects_a_socket():
    socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_swallows_a_refused_connect():
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    except Exception:
        pass


def test_starts_a_process():
    subprocess.run(["true"], check=False)


def test_connects_to_postgresql():
    psycopg.connect("postgresql://nobody@127.0.0.1:9/none", connect_timeout=1)


def test_stays_in_process(tmp_path):
    (tmp_path / "state.db").write_bytes(b"")
"""


def test_a_unit_test_that_leaves_the_process_fails(tmp_path: Path) -> None:
    unit = tmp_path / "unit"
    unit.mkdir()
    here = Path(__file__).resolve().parents[1] / "unit"
    shutil.copy(here / "conftest.py", unit / "conftest.py")
    (unit / "__init__.py").write_text("")
    (unit / "test_probes.py").write_text(PROBES)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-p", "no:xdist",
         "unit"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    said = result.stdout + result.stderr
    failed = set(re.findall(r"^FAILED unit/test_probes\.py::(\w+)", said, re.M))
    assert failed == {
        "test_connects_a_socket",
        "test_swallows_a_refused_connect",
        "test_starts_a_process",
        "test_connects_to_postgresql",
    }, said
    assert "1 passed" in said and "it belongs in tests/e2e" in said, said
