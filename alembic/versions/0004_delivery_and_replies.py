"""delivery status of pages, SMS opt-outs, inbound SMS

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Types are spelled out, as in 0001: a migration describes the schema as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# monitor.storage.types.Timestamp: epoch milliseconds on SQLite, timestamptz on PostgreSQL.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.Integer(), "sqlite")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable: no table rewrite on either database.
    op.add_column("pages", sa.Column("delivery", sa.Text(), nullable=True))
    op.add_column("pages", sa.Column("delivery_at", TIMESTAMP, nullable=True))
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_sms_opt_outs")),
    )
    op.create_table(
        "inbound_sms",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("person", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("incident_id", ROW_ID, nullable=True),
        sa.Column("auto_reply", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
    )
    op.create_index(op.f("ix_inbound_sms_phone_at"), "inbound_sms", ["phone", "at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_sms_phone_at"), table_name="inbound_sms")
    op.drop_table("inbound_sms")
    op.drop_table("sms_opt_outs")
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("delivery_at")
        batch.drop_column("delivery")
