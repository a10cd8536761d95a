"""Files the operator names on the command line: checked before any work is done.

A plan that cannot be saved is found out before the directory is read and the run
is recorded, not after. Only regular files are read or replaced: a FIFO would hang a
read, and ``--out /dev/null --force`` run as root must not replace a device node.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scimctl.errors import ConfigError

SPECIAL = "not a regular file (a device, FIFO or socket)"


def check_writable(path: str | Path, what: str = "output file") -> Path:
    """``path`` as a :class:`Path` if a file can be written there; else a ConfigError.

    Only a regular file or a new path is accepted, so a write never lands on a
    device, a FIFO (which would block) or through a symlink to nowhere.
    """
    text = str(path)
    if not text.strip() or "\x00" in text:
        raise ConfigError(f"{what} {text!r} is not a usable path")
    target = Path(text)
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        if os.path.lexists(target):
            raise ConfigError(f"{what} {text}: a symbolic link to a missing file") from None
        info = None
    except OSError as exc:  # a symlink loop, a path through a file, a name too long
        raise ConfigError(f"{what} {text}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{what} {text!r}: {exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{what} {text}: is a directory")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {text}: {SPECIAL}; scimctl writes only regular files")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{what} {text}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (info is not None and not os.access(target, os.W_OK)):
        raise ConfigError(f"{what} {text}: not writable")
    return target


def check_regular(path: str | Path, what: str) -> None:
    """Refuse to read anything but a regular file (a FIFO would block forever)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return  # the read that follows reports it in its own words
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {path}: {SPECIAL}; refusing to read it")


def write_text(path: str | Path, text: str, what: str) -> None:
    """Write ``text``, an OS refusal (permissions, a full disk) as one line."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot write: {exc.strerror or exc}") from None
