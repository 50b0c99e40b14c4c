"""hourly and daily rollups of results, and how far they go

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Types are spelled out, as in 0001: a migration describes the schema as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# monitor.storage.types.Timestamp: epoch milliseconds on SQLite, timestamptz on PostgreSQL.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollups_hourly",
        sa.Column("probe_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("hour", TIMESTAMP, nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("duration_sum_ms", sa.BigInteger(), nullable=False),
        sa.Column("duration_p50_ms", sa.Integer(), nullable=False),
        sa.Column("duration_p95_ms", sa.Integer(), nullable=False),
        sa.Column("duration_max_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["probes.id"],
            name=op.f("fk_rollups_hourly_probe_id_probes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("probe_id", "location", "hour", name=op.f("pk_rollups_hourly")),
    )
    op.create_index(op.f("ix_rollups_hourly_hour"), "rollups_hourly", ["hour"], unique=False)
    op.create_table(
        "rollups_daily",
        sa.Column("probe_id", sa.Integer(), nullable=False),
        sa.Column("day", TIMESTAMP, nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["probes.id"],
            name=op.f("fk_rollups_daily_probe_id_probes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("probe_id", "day", name=op.f("pk_rollups_daily")),
    )
    op.create_index(op.f("ix_rollups_daily_day"), "rollups_daily", ["day"], unique=False)
    op.create_table(
        "rollup_progress",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rolled_until", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_progress")),
    )


def downgrade() -> None:
    op.drop_table("rollup_progress")
    op.drop_index(op.f("ix_rollups_daily_day"), table_name="rollups_daily")
    op.drop_table("rollups_daily")
    op.drop_index(op.f("ix_rollups_hourly_hour"), table_name="rollups_hourly")
    op.drop_table("rollups_hourly")
