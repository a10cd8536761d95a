"""One resolved configuration per run: ``.env`` is read once, whatever the command does.

The CLI runs in-process (flows.InProcess) against the emulator over loopback HTTP
and a real SQLite file, with its credentials and state URL only in a real ``.env``
file; a spy on the one reader (``dotenv_values``) counts how often it is parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dotenv
import pytest
from conftest import CLIENT_ID, CLIENT_SECRET, Running, user
from flows import EmulatorWorkspace, ok

FROM_DOTENV = ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET", "SCIMCTL_STATE")


class DotenvWorkspace(EmulatorWorkspace):
    """The settings live in ``.env`` only: the process environment lacks them."""

    def env(self, **extra: str) -> dict[str, str]:
        return {k: v for k, v in super().env(**extra).items() if k not in FROM_DOTENV}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``.env`` parse of the run, by path."""
    seen: list[str] = []

    def spy(path: Any = None, **kw: Any) -> Any:
        seen.append(str(path))
        return dotenv.dotenv_values(path, **kw)

    monkeypatch.setattr("scimctl.config.dotenv_values", spy)
    return seen


def test_each_command_reads_dotenv_once(
    emulator: Running, tmp_path: Path, sqlite_url: str, reads: list[str]
) -> None:
    ws = DotenvWorkspace(tmp_path, emulator, sqlite_url)
    (tmp_path / ".env").write_text(
        f"GENESYS_CLIENT_ID={CLIENT_ID}\nGENESYS_CLIENT_SECRET={CLIENT_SECRET}\n"
        f"SCIMCTL_STATE={sqlite_url}\n"
    )
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    ok(ws, "plan")
    assert reads == [".env"]
    reads.clear()
    ok(ws, "apply", "--auto-approve")
    assert reads == [".env"]  # credentials, state, plan key, webhook: one parse
    # The settings did come from the file: the user exists now, and a second plan
    # against the state the apply wrote finds nothing to do.
    assert "jane@example.com" in {u["userName"] for u in emulator.users()}
    reads.clear()
    assert ws.run("plan", "--detailed-exitcode").returncode == 0
    assert reads == [".env"]
