"""The database the SQL parts of the state share: engine, migrations, write turns.

Every SQL component (state, lock, journal, outbox, audit reads) gets the same
``Database``, so they share one connection pool and one in-process write lock:
writes from apply's worker threads take turns (cheap next to an HTTP round trip,
and it keeps SQLite free of ``database is locked``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from scimctl.errors import StateError
from scimctl.state.url import masked_url, normalize_state_url

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
            # First, so that switching a new file to WAL waits for a process creating
            # the same state instead of failing with "database is locked".
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
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

    def leftovers(self) -> set[str]:
        """scimctl's tables here, all empty, without a recorded schema version: what an
        older scimctl killed while creating the schema left (it made each table in a
        transaction of its own). That is no state yet; the next creation starts over.

        Tables with rows but no version are refused (StateError): which schema they
        have cannot be told, and dropping them would lose a state.
        """
        with self.engine.connect() as conn:
            return _leftovers(conn, self.url)

    def upgrade(self) -> None:
        """Migrate to the newest schema; a no-op (without Alembic) when already there.

        The whole migration (a new state's every table, or every step from an older
        schema) is one transaction taken under a lock: two processes starting a new
        state at once take turns (the second finds the schema made), and a process
        killed half-way leaves the database as it was, so the next command starts over
        instead of finding tables without a recorded version. Tables an older scimctl
        left that way (see ``leftovers``) are dropped first, in the same transaction.
        """
        if self.revision() == SCHEMA_HEAD:
            return
        from alembic import command

        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                with _sqlite_transactional_ddl(conn):
                    # pysqlite no longer begins or commits on its own: this BEGIN is the
                    # transaction, and IMMEDIATE takes the file's write lock now, so a
                    # second creator waits here (busy_timeout) rather than racing.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    self._migrate(conn, command)
                return
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    # Held until commit; one per schema, so states in other schemas of
                    # the same database do not wait for each other.
                    conn.exec_driver_sql(
                        "SELECT pg_advisory_xact_lock("
                        "hashtext('scimctl schema ' || current_schema()))"
                    )
                self._migrate(conn, command)

    def _migrate(self, conn: Connection, command: Any) -> None:
        leftovers = _leftovers(conn, self.url)  # under the lock: another creator is done
        if leftovers:
            tables = sa.MetaData()
            tables.reflect(conn, only=sorted(leftovers))
            tables.drop_all(conn)
        command.upgrade(migrations_config(conn), "head")  # a no-op if another process did it
        _pause_for_tests()
        if conn.dialect.name == "sqlite":
            conn.commit()


def _leftovers(conn: Connection, url: str) -> set[str]:
    """scimctl's tables in a database that records no schema version, when they are
    all empty; none when a version is recorded. Refuses tables that hold rows."""
    from scimctl.state.tables import metadata

    inspector = sa.inspect(conn)
    if (
        inspector.has_table("alembic_version")
        and conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    ):
        return set()
    found = set(inspector.get_table_names()) & {*metadata.tables, "alembic_version"}
    # The journal's head row is written with the schema (migration 0002), not by a run;
    # every entry it chains is a row of runs or operations.
    full = sorted(
        name
        for name in found - {"alembic_version", "journal_head"}
        if conn.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first()
    )
    if full:
        raise StateError(
            f"state database at {masked_url(url)} has scimctl's tables with rows "
            f"({', '.join(full)}) but no recorded schema version, so scimctl cannot tell "
            "which schema they have and changes nothing there. Restore the database from "
            "a backup, or point --state / SCIMCTL_STATE at a new location and start a "
            "state there (`scimctl db upgrade`)"
        )
    return found


@contextmanager
def _sqlite_transactional_ddl(conn: Connection) -> Iterator[None]:
    """Turn off pysqlite's own transaction handling on this connection, which would
    run each CREATE TABLE in a transaction of its own (and commit before others), and
    put it back before the connection returns to the pool.

    SQLAlchemy's pysqlite notes ("Serializable isolation / Savepoints / Transactional
    DDL") describe the same: ``isolation_level = None``, then ``BEGIN`` by hand.
    """
    dbapi = conn.connection.driver_connection
    before = dbapi.isolation_level  # type: ignore[union-attr]
    dbapi.isolation_level = None  # type: ignore[union-attr]
    try:
        yield
    except BaseException:
        if dbapi.in_transaction:  # type: ignore[union-attr]
            dbapi.rollback()  # type: ignore[union-attr]
        raise
    finally:
        dbapi.isolation_level = before  # type: ignore[union-attr]


# Tests only: the path of a file to write once the schema is made but not committed,
# then wait (up to a minute) for it to be removed: lets a test kill a process, or race
# a second one, at the worst moment of creating a state.
PAUSE_ENV = "SCIMCTL_TEST_PAUSE_IN_MIGRATION"


def _pause_for_tests() -> None:
    marker = os.environ.get(PAUSE_ENV)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
