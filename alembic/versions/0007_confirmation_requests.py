"""confirmation requests: the leader asks the instances that run a probe for confirmation runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Types are spelled out, as in 0001: a migration describes the schema as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# monitor.storage.types.Timestamp: epoch milliseconds on SQLite, timestamptz on PostgreSQL.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.Integer(), "sqlite")
# monitor.storage.tables.RowId: an alias of the rowid on SQLite.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "confirmation_requests",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("probe", sa.Text(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("every_ms", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_requests")),
    )
    op.create_index(
        op.f("ix_confirmation_requests_at"), "confirmation_requests", ["at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_confirmation_requests_at"), table_name="confirmation_requests")
    op.drop_table("confirmation_requests")
