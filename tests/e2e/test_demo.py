"""The README's first command: the quickstart demo, run with the scimctl under test
(under ``make test``, the installed wheel)."""

from __future__ import annotations

import os
import subprocess

from conftest import ROOT, SCIMCTL

from scimctl.emulator.server import free_port


def test_the_quickstart_demo_plans_applies_and_then_has_nothing_left():
    for _ in range(5):  # a free port can be taken by a parallel test process first
        port = free_port()
        demo = subprocess.run(
            ["bash", str(ROOT / "examples" / "quickstart" / "demo.sh"), str(port)],
            env={**os.environ, "SCIMCTL": SCIMCTL, "NO_COLOR": "1"},
            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if "already in use" not in demo.stderr:
            break
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout
    assert "== scimctl apply plan.json" in out and "Done: the emulator stops now." in out
    again = out.split("plan --detailed-exitcode")[1]
    assert "No changes" in again, again
