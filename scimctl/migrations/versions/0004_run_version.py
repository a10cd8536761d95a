"""Each run records the scimctl version that made it.

An auditor reading the history needs to know which release changed an account (and
which did not: a plan from one version applied by another). Runs from before this
revision keep no version; the hash chain covers the column only where it is set, so
their hashes are unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("scimctl_version", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("scimctl_version")
