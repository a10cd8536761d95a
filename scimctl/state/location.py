"""Where a state lives, and whether it is there yet: a new state is a decision.

A state that went missing looks exactly like a new one, and a new state adopts every
managed account and stops deactivating leavers. So a mistyped location must be an
error, not a fresh empty database: nothing here creates a file or a directory, and
places that cannot hold a state across runs (SQLite in memory, an empty path) are
refused outright.
"""

from __future__ import annotations

from pathlib import Path

from scimctl.errors import ConfigError, StateError
from scimctl.state.url import masked_url, normalize_state_url

# The default location's directory is scimctl's own; it is the one directory
# created on demand (when a state is created, never when one is only read).
OWN_DIRECTORY = Path(".scimctl")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another backend); refuses non-files."""
    from sqlalchemy.engine import make_url

    text = normalize_state_url(url)
    parsed = make_url(text)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    memory = parsed.query.get("mode") == "memory" or database.startswith(":memory:")
    if memory or not database.strip():
        raise ConfigError(
            f"state URL {url.strip()!r} names no file: the state must outlive the run; "
            "use sqlite:///path/state.db"
        )
    return Path(database)


def check_location(url: str) -> None:
    """Refuse a URL that could only ever be a new, throw-away state (before any work)."""
    sqlite_path(url)


def state_exists(url: str) -> bool:
    """Whether a state database is at ``url`` already (a schema was created there).

    A SQLite file is looked at, never opened when absent (opening creates it); a
    server database is asked whether it holds scimctl's schema.
    """
    path = sqlite_path(url)
    if path is not None:
        if not path.exists():
            return False
        if not path.is_file():
            raise StateError(f"state {path}: not a regular file")
    from scimctl.state.db import Database

    db = Database(url)
    try:
        if db.revision() is not None:
            return True
        db.leftovers()  # refuses tables with rows but no version; empty ones are no state
        return False
    finally:
        db.close()


def prepare_directory(url: str, *, create: bool) -> None:
    """Check a SQLite state's directory: it is never created implicitly.

    Only scimctl's own default directory (``.scimctl``) is made, and only when the
    state itself is being created; a typo elsewhere is an error naming the directory.
    """
    path = sqlite_path(url)
    if path is None:
        return
    parent = path.parent
    if parent.is_dir():
        return
    if parent == OWN_DIRECTORY:
        if create:
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot create {parent} for the state: {exc.strerror}") from exc
        return
    raise StateError(
        f"state {masked_url(url)}: the directory {parent} does not exist "
        "(scimctl does not create it: check the URL for a typo, or create the directory)"
    )


def missing(url: str) -> StateError:
    """The error for a command that only reads a state that is not there."""
    return StateError(
        f"no state database at {masked_url(url)}: check --state / SCIMCTL_STATE "
        "(a new state is made only by `scimctl db upgrade`, `import`, or `plan --new-state`)"
    )
