"""Files the operator names on the command line: checked before any work is done.

A plan that cannot be saved is found out before the directory is read and the run
is recorded, not after.
"""

from __future__ import annotations

import os
from pathlib import Path

from scimctl.errors import ConfigError


def check_writable(path: str | Path, what: str = "output file") -> Path:
    """``path`` as a :class:`Path` if a file can be written there; else a ConfigError."""
    text = str(path)
    if not text or "\x00" in text:
        raise ConfigError(f"{what} {text!r} is not a usable path")
    target = Path(text)
    if target.is_dir():
        raise ConfigError(f"{what} {text}: is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{what} {text}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ConfigError(f"{what} {text}: not writable")
    return target
