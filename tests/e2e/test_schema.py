"""The tables the code declares and the tables the migrations build are the same."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scimctl.state.store import Store
from scimctl.state.tables import metadata


def test_migrations_build_exactly_the_declared_tables(state_url):
    store = Store(state_url)  # migrated to head on first use
    try:
        with store.engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            diff = compare_metadata(ctx, metadata)
    finally:
        store.close()
    assert diff == [], "tables.py and migrations/ disagree:\n" + "\n".join(map(str, diff))
