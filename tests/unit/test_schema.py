"""The tables the code declares and the tables the migrations build are the same."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scimctl.state.store import Store
from scimctl.state.tables import metadata


def test_the_comparison_sees_a_missing_column(sqlite_url):
    """Guard for the test above: a column declared but never migrated is reported."""
    store = Store(sqlite_url)
    extra = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(extra)
    sa.Table("runs", extra, sa.Column("not_migrated", sa.Text), extend_existing=True)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), extra)
    store.close()
    assert any(d[0] == "add_column" and d[3].name == "not_migrated" for d in diff)
