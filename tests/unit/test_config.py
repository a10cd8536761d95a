"""One resolved configuration per run: ``.env`` is read once, whatever the command does.

The CLI runs in-process (flows.InProcess) against the emulator over loopback HTTP
and a real SQLite file, with its credentials and state URL only in a real ``.env``
file; a spy on the one reader (``dotenv_values``) counts how often it is parsed.
"""

from __future__ import annotations

from pathlib import Path

from scimctl.config import Config


def test_the_shell_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CI=1\nSCIMCTL_AUDIT_KEY=from-file\n")
    config = Config.load({"SCIMCTL_AUDIT_KEY": "from-shell"}, tmp_path / ".env")
    assert config.audit_key == "from-shell" and config.ci
    assert Config({}).audit_key is None and not Config({"CI": "false"}).ci
