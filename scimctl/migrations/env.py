"""Alembic environment. scimctl runs migrations itself (``scimctl db upgrade`` and on
first use) and hands over its connection; ``alembic -x url=...`` works too."""

from alembic import context
from sqlalchemy import create_engine

from scimctl.state.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()


run()
