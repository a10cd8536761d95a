"""Shared pieces of the benchmarks: an emulator in its own process, and table output.

The emulator runs as a separate ``scimctl emulator`` process so that its CPU time
does not count against scimctl's, as it would not against a real Genesys Cloud.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scimctl.config import Credentials, Target
from scimctl.emulator.server import free_port

CLIENT = Credentials("bench", "bench-secret")
# A benchmark that ran but missed a goal exits with this, so a crash (exit 1, with a
# traceback) is told apart from a slow run; tests/e2e/test_benchmarks_smoke.py relies on it.
GOALS_MISSED = 3
SCIMCTL = str(Path(sys.executable).parent / "scimctl")


@contextmanager
def emulator(seed: dict[str, Any], *options: str) -> Iterator[Target]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        seed_file = Path(tmp) / "seed.json"
        seed_file.write_text(json.dumps(seed))
        proc = subprocess.Popen(
            [
                SCIMCTL, "emulator", "--port", str(port), "--seed", str(seed_file),
                "--client-id", CLIENT.client_id, "--client-secret", CLIENT.client_secret,
                *options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300  # a 50,000-user seed on a busy machine
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("emulator did not start") from None
                    time.sleep(0.1)
            url = f"http://127.0.0.1:{port}"
            yield Target("genesys", url, url)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def table(title: str, headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [title, line]
    for n, row in enumerate(cells):
        out.append(
            "|".join(
                f" {c.rjust(w) if n else c.ljust(w)} " for c, w in zip(row, widths, strict=True)
            )
        )
        if n == 0:
            out.append(line)
    out.append(line)
    return "\n".join(out)


def machine_load() -> str:
    """The 1-minute load average beside the cores: figures taken under load say so."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
