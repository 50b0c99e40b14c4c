"""escalation: the policy snapshot and position of each incident, and the pages outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Types are spelled out, as in 0001: a migration describes the schema as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# monitor.storage.types.Timestamp: epoch milliseconds on SQLite, timestamptz on PostgreSQL.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.Integer(), "sqlite")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable or with a constant default: no table rewrite on either database.
    op.add_column("incidents", sa.Column("policy", sa.JSON(none_as_null=True), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("esc_cycle", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("incidents", sa.Column("esc_level", sa.Integer(), nullable=True))
    op.add_column("incidents", sa.Column("esc_round_start", sa.Integer(), nullable=True))
    op.add_column("incidents", sa.Column("next_action_at", TIMESTAMP, nullable=True))
    op.create_index(
        op.f("ix_incidents_next_action_at"), "incidents", ["next_action_at"], unique=False
    )
    # Incidents open at the upgrade start paging at once rather than never.
    op.execute("UPDATE incidents SET next_action_at = opened_at WHERE state <> 'resolved'")
    op.create_table(
        "pages",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("incident_id", ROW_ID, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled')",
            name=op.f("ck_pages_status"),
        ),
        sa.CheckConstraint("kind IN ('page', 'resolved')", name=op.f("ck_pages_kind")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_pages_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
    )
    op.create_index(
        "uq_pages_key",
        "pages",
        ["incident_id", "kind", "cycle", "level", "person", "channel"],
        unique=True,
    )
    op.create_index(
        op.f("ix_pages_status_next_attempt_at"),
        "pages",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pages_status_next_attempt_at"), table_name="pages")
    op.drop_index("uq_pages_key", table_name="pages")
    op.drop_table("pages")
    op.drop_index(op.f("ix_incidents_next_action_at"), table_name="incidents")
    # Batch: SQLite before 3.35 has no DROP COLUMN; there the table is copied without them.
    with op.batch_alter_table("incidents") as batch:
        for column in ("next_action_at", "esc_round_start", "esc_level", "esc_cycle", "policy"):
            batch.drop_column(column)
