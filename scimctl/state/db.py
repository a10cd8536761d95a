"""The database the SQL parts of the state share: engine, migrations, write turns.

Every SQL component (state, lock, journal, outbox, audit reads) gets the same
``Database``, so they share one connection pool and one in-process write lock:
writes from apply's worker threads take turns (cheap next to an HTTP round trip,
and it keeps SQLite free of ``database is locked``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from scimctl.state.url import normalize_state_url

# The newest migration in scimctl/migrations/versions (a test keeps the two in step). Knowing
# it lets an up-to-date database skip loading Alembic on every command.
SCHEMA_HEAD = "0004"


def migrations_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    import scimctl.migrations as mig

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(mig.__file__).parent))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def make_engine(url: str) -> Engine:
    from scimctl.state.location import check_location

    url = normalize_state_url(url)
    check_location(url)  # no in-memory or pathless SQLite: a state outlives the run
    sqlite = url.startswith("sqlite")
    # A server connection can drop between commands; a SQLite file cannot.
    engine = sa.create_engine(url, pool_pre_ping=not sqlite)
    if sqlite:

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


class Database:
    """One engine and the in-process write lock; what every SQL component is built on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._write = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    def connect(self) -> Connection:
        """A read connection (use it in a ``with`` block)."""
        return self.engine.connect()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One write transaction; in-process writers take turns."""
        with self._write, self.engine.begin() as conn:
            yield conn

    def revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.ProgrammingError:
            return None
        except sa.exc.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise

    def upgrade(self) -> None:
        """Migrate to the newest schema; a no-op (without Alembic) when already there."""
        if self.revision() == SCHEMA_HEAD:
            return
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(migrations_config(conn), "head")
